#include "geo/predicates.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numbers>

namespace civitas::geo {
namespace {

constexpr double kEps = 1e-9;  // degrees; see predicates.h

enum class Loc { kExterior = 0, kBoundary = 1, kInterior = 2 };

double Cross(const Point& a, const Point& b, const Point& c) {
  return (b.lon - a.lon) * (c.lat - a.lat) - (b.lat - a.lat) * (c.lon - a.lon);
}

bool IsSinglePoint(const Geometry& g) {
  return g.points.size() == 1 && g.lines.empty() && g.polygons.empty();
}

bool Near(const Point& p, const Point& q) {
  return std::fabs(p.lon - q.lon) <= kEps && std::fabs(p.lat - q.lat) <= kEps;
}

bool InSegmentBox(const Point& p, const Point& a, const Point& b) {
  return p.lon >= std::min(a.lon, b.lon) - kEps && p.lon <= std::max(a.lon, b.lon) + kEps &&
         p.lat >= std::min(a.lat, b.lat) - kEps && p.lat <= std::max(a.lat, b.lat) + kEps;
}

// p lies on the segment ab (within kEps of it).
bool OnSegment(const Point& p, const Point& a, const Point& b) {
  if (!InSegmentBox(p, a, b)) return false;
  double len = std::hypot(b.lon - a.lon, b.lat - a.lat);
  if (len <= kEps) return Near(p, a);
  return std::fabs(Cross(a, b, p)) / len <= kEps;
}

// Crossing-number test; the caller has already handled points on the ring.
bool InRing(const Point& p, const Ring& ring) {
  bool in = false;
  for (size_t i = 0, j = ring.size() - 1; i < ring.size(); j = i++) {
    const Point& a = ring[i];
    const Point& b = ring[j];
    if ((a.lat > p.lat) != (b.lat > p.lat)) {
      double x = a.lon + (p.lat - a.lat) * (b.lon - a.lon) / (b.lat - a.lat);
      if (p.lon < x) in = !in;
    }
  }
  return in;
}

Loc LocateInPolygon(const Point& p, const Polygon& poly) {
  for (const auto& ring : poly.rings) {
    for (size_t i = 0; i + 1 < ring.size(); ++i) {
      if (OnSegment(p, ring[i], ring[i + 1])) return Loc::kBoundary;
    }
  }
  if (!InRing(p, poly.rings[0])) return Loc::kExterior;
  for (size_t h = 1; h < poly.rings.size(); ++h) {
    if (InRing(p, poly.rings[h])) return Loc::kExterior;
  }
  return Loc::kInterior;
}

bool IsClosed(const std::vector<Point>& line) { return Near(line.front(), line.back()); }

Loc LocateInLine(const Point& p, const std::vector<Point>& line) {
  bool on = false;
  for (size_t i = 0; i + 1 < line.size() && !on; ++i) on = OnSegment(p, line[i], line[i + 1]);
  if (!on) return Loc::kExterior;
  if (!IsClosed(line) && (Near(p, line.front()) || Near(p, line.back()))) return Loc::kBoundary;
  return Loc::kInterior;
}

Loc LocatePolygons(const Point& p, const Geometry& g) {
  Loc best = Loc::kExterior;
  for (const auto& poly : g.polygons) {
    best = std::max(best, LocateInPolygon(p, poly));
    if (best == Loc::kInterior) break;
  }
  return best;
}

Loc LocateLines(const Point& p, const Geometry& g) {
  Loc best = Loc::kExterior;
  for (const auto& line : g.lines) {
    best = std::max(best, LocateInLine(p, line));
    if (best == Loc::kInterior) break;
  }
  return best;
}

bool LocateInLineInterior(const Point& p, const Geometry& g) {
  return LocateLines(p, g) == Loc::kInterior;
}

Loc Locate(const Point& p, const Geometry& g) {
  for (const auto& q : g.points) {
    if (Near(p, q)) return Loc::kInterior;
  }
  Loc best = LocateLines(p, g);
  if (best == Loc::kInterior) return best;
  return std::max(best, LocatePolygons(p, g));
}

Box Grow(const Box& b) {
  return {b.min_lon - kEps, b.min_lat - kEps, b.max_lon + kEps, b.max_lat + kEps};
}

// Calls fn(a, b) for each segment of the lines (lines = true) or of the polygon rings.
template <typename Fn>
bool AnySegment(const Geometry& g, bool lines, bool rings, Fn&& fn) {
  if (lines) {
    for (const auto& line : g.lines) {
      for (size_t i = 0; i + 1 < line.size(); ++i) {
        if (fn(line[i], line[i + 1])) return true;
      }
    }
  }
  if (rings) {
    for (const auto& poly : g.polygons) {
      for (const auto& ring : poly.rings) {
        for (size_t i = 0; i + 1 < ring.size(); ++i) {
          if (fn(ring[i], ring[i + 1])) return true;
        }
      }
    }
  }
  return false;
}

template <typename Fn>
bool AnyVertex(const Geometry& g, Fn&& fn) {
  for (const auto& p : g.points) {
    if (fn(p)) return true;
  }
  for (const auto& line : g.lines) {
    for (const auto& p : line) {
      if (fn(p)) return true;
    }
  }
  for (const auto& poly : g.polygons) {
    for (const auto& ring : poly.rings) {
      for (const auto& p : ring) {
        if (fn(p)) return true;
      }
    }
  }
  return false;
}

int Sign(double v) { return v > 0 ? 1 : (v < 0 ? -1 : 0); }

// The segments ab and cd share at least one position.
bool SegmentsIntersect(const Point& a, const Point& b, const Point& c, const Point& d) {
  if (OnSegment(c, a, b) || OnSegment(d, a, b) || OnSegment(a, c, d) || OnSegment(b, c, d)) {
    return true;
  }
  int d1 = Sign(Cross(a, b, c)), d2 = Sign(Cross(a, b, d));
  int d3 = Sign(Cross(c, d, a)), d4 = Sign(Cross(c, d, b));
  return d1 * d2 < 0 && d3 * d4 < 0;
}

// Splits the segment ab where it meets segments of `other` (at crossings and where vertices of
// `other` lie on it) and calls fn with the midpoint of each piece; returns true as soon as fn
// does. Pieces are what "is this part of ab inside other?" has to be asked about: within one
// piece the answer cannot change.
template <typename Fn>
bool AnyPieceMidpoint(const Point& a, const Point& b, const Geometry& other, bool other_lines,
                      bool other_rings, Fn&& fn) {
  double dx = b.lon - a.lon, dy = b.lat - a.lat;
  double len2 = dx * dx + dy * dy;
  if (len2 <= kEps * kEps) return fn(a);
  std::vector<double> ts = {0.0, 1.0};
  auto param = [&](const Point& p) {
    return std::clamp(((p.lon - a.lon) * dx + (p.lat - a.lat) * dy) / len2, 0.0, 1.0);
  };
  Box seg = Grow({std::min(a.lon, b.lon), std::min(a.lat, b.lat), std::max(a.lon, b.lon),
                  std::max(a.lat, b.lat)});
  AnySegment(other, other_lines, other_rings, [&](const Point& c, const Point& d) {
    Box o{std::min(c.lon, d.lon), std::min(c.lat, d.lat), std::max(c.lon, d.lon),
          std::max(c.lat, d.lat)};
    if (!seg.Intersects(o)) return false;
    if (OnSegment(c, a, b)) ts.push_back(param(c));
    if (OnSegment(d, a, b)) ts.push_back(param(d));
    double c3 = Cross(c, d, a), c4 = Cross(c, d, b);
    if (Sign(Cross(a, b, c)) * Sign(Cross(a, b, d)) < 0 && Sign(c3) * Sign(c4) < 0) {
      ts.push_back(std::clamp(c3 / (c3 - c4), 0.0, 1.0));
    }
    return false;
  });
  std::sort(ts.begin(), ts.end());
  for (size_t i = 0; i + 1 < ts.size(); ++i) {
    if (ts[i + 1] - ts[i] <= 1e-12) continue;
    double t = (ts[i] + ts[i + 1]) / 2;
    if (fn(Point{a.lon + dx * t, a.lat + dy * t})) return true;
  }
  return false;
}

// Whether every position of a is in b (interior or boundary); *meet tells whether some interior
// position of a is in b's interior.
bool CoveredBy(const Geometry& a, const Geometry& b, bool* meet) {
  *meet = false;
  if (a.empty() || b.empty()) return false;
  if (a.Dimension() > b.Dimension()) return false;
  if (!Grow(a.box).Intersects(b.box)) return false;
  bool m = false;
  for (const auto& p : a.points) {
    Loc l = Locate(p, b);
    if (l == Loc::kExterior) return false;
    if (l == Loc::kInterior) m = true;
  }
  bool outside = AnySegment(a, true, false, [&](const Point& s, const Point& e) {
    return AnyPieceMidpoint(s, e, b, true, true, [&](const Point& mid) {
      Loc l = Locate(mid, b);
      if (l == Loc::kInterior) m = true;
      return l == Loc::kExterior;
    });
  });
  if (outside) return false;
  if (!a.polygons.empty()) {
    for (const auto& poly : a.polygons) {
      bool all_on_boundary = true;
      Point first_mid{}, first_a{}, first_b{};
      bool have_first = false;
      for (const auto& ring : poly.rings) {
        for (size_t i = 0; i + 1 < ring.size(); ++i) {
          bool out = AnyPieceMidpoint(ring[i], ring[i + 1], b, true, true, [&](const Point& mid) {
            Loc l = Locate(mid, b);
            if (l != Loc::kBoundary) all_on_boundary = false;
            if (!have_first && !Near(ring[i], ring[i + 1])) {
              have_first = true;
              first_mid = mid;
              first_a = ring[i];
              first_b = ring[i + 1];
            }
            return l == Loc::kExterior;
          });
          if (out) return false;
        }
      }
      // A polygon whose whole boundary lies on b's boundary may still be outside b (it may be
      // b's hole): look just inside it, next to an edge.
      if (all_on_boundary && have_first) {
        double dx = first_b.lon - first_a.lon, dy = first_b.lat - first_a.lat;
        double len = std::hypot(dx, dy);
        double off = std::max(kEps * 100, len * 1e-6);
        Point left{first_mid.lon - dy / len * off, first_mid.lat + dx / len * off};
        Point right{first_mid.lon + dy / len * off, first_mid.lat - dx / len * off};
        Point inside = LocateInPolygon(left, poly) == Loc::kInterior ? left : right;
        if (Locate(inside, b) == Loc::kExterior) return false;
      }
    }
    // b's rings must not pass through a's interior (a would then cover some of b's exterior).
    bool crossing = AnySegment(b, false, true, [&](const Point& s, const Point& e) {
      return AnyPieceMidpoint(s, e, a, false, true, [&](const Point& mid) {
        return LocatePolygons(mid, a) == Loc::kInterior;
      });
    });
    if (crossing) return false;
    m = true;  // a has an area inside b's closure, so inside b's interior
  }
  *meet = m;
  return true;
}

bool Covers(const Geometry& a, const Geometry& b) {
  bool meet;
  return CoveredBy(b, a, &meet);
}

// Whether the interiors of a and b share a part of dimension `dim`.
bool InteriorsShare(const Geometry& a, const Geometry& b, int dim) {
  if (dim == 0) {
    for (const auto& p : a.points) {
      for (const auto& q : b.points) {
        if (Near(p, q)) return true;
      }
    }
    return false;
  }
  if (dim == 1) {
    return AnySegment(a, true, false, [&](const Point& s, const Point& e) {
      return AnyPieceMidpoint(s, e, b, true, false,
                              [&](const Point& mid) { return LocateInLineInterior(mid, b); });
    });
  }
  auto ring_piece_inside = [](const Geometry& x, const Geometry& y) {
    return AnySegment(x, false, true, [&](const Point& s, const Point& e) {
      return AnyPieceMidpoint(s, e, y, false, true, [&](const Point& mid) {
        return LocatePolygons(mid, y) == Loc::kInterior;
      });
    });
  };
  return ring_piece_inside(a, b) || ring_piece_inside(b, a);
}

// Great-circle helpers on unit vectors.
struct Vec {
  double x, y, z;
};
Vec ToVec(const Point& p) {
  constexpr double kRad = std::numbers::pi / 180;
  double lat = p.lat * kRad, lon = p.lon * kRad;
  return {std::cos(lat) * std::cos(lon), std::cos(lat) * std::sin(lon), std::sin(lat)};
}
Vec CrossV(const Vec& a, const Vec& b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
double Dot(const Vec& a, const Vec& b) { return a.x * b.x + a.y * b.y + a.z * b.z; }

Vec Sub(const Vec& a, const Vec& b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }

// Distances between unit vectors are compared as squared chords, which grow with the angle:
// no trigonometry per vertex pair, one conversion to metres at the end.
double ChordSq(const Vec& a, const Vec& b) {
  Vec d = Sub(a, b);
  return Dot(d, d);
}

struct Arc {
  Vec a, b, n;  // end points and the unit normal of their great circle
  bool has_normal;
};

Arc MakeArc(const Point& a, const Point& b) {
  Arc arc{ToVec(a), ToVec(b), {}, false};
  Vec n = CrossV(arc.a, arc.b);
  double len = std::sqrt(Dot(n, n));
  // Coinciding (or antipodal) end points have no unique arc: the end points alone count.
  if (len >= 1e-15) {
    arc.n = {n.x / len, n.y / len, n.z / len};
    arc.has_normal = true;
  }
  return arc;
}

// Squared chord from p to the nearest position of the arc.
double ArcChordSq(const Vec& p, const Arc& arc) {
  double ends = std::min(ChordSq(p, arc.a), ChordSq(p, arc.b));
  if (!arc.has_normal) return ends;
  double s = Dot(p, arc.n);  // sine of the angle between p and the arc's great circle
  Vec proj = {p.x - arc.n.x * s, p.y - arc.n.y * s, p.z - arc.n.z * s};
  // The foot of the perpendicular must lie between the end points.
  if (Dot(CrossV(arc.a, proj), arc.n) < 0 || Dot(CrossV(proj, arc.b), arc.n) < 0) return ends;
  // The chord for that angle, 2 - 2cos, written so that small angles keep their precision.
  double c2 = 2 * s * s / (1 + std::sqrt(std::max(0.0, 1 - s * s)));
  return std::min(ends, c2);
}

double ChordSqToMeters(double c2) {
  return 2 * kEarthRadiusMeters * std::asin(std::min(1.0, std::sqrt(c2) / 2));
}

// Smallest squared chord from a vertex of `from` to a part of `to`.
double VertexToParts(const Geometry& from, const Geometry& to) {
  std::vector<Vec> points;
  points.reserve(to.points.size());
  for (const auto& q : to.points) points.push_back(ToVec(q));
  std::vector<Arc> arcs;
  AnySegment(to, true, true, [&](const Point& s, const Point& e) {
    arcs.push_back(MakeArc(s, e));
    return false;
  });
  double best = std::numeric_limits<double>::infinity();
  AnyVertex(from, [&](const Point& v) {
    Vec p = ToVec(v);
    for (const auto& q : points) best = std::min(best, ChordSq(p, q));
    for (const auto& arc : arcs) best = std::min(best, ArcChordSq(p, arc));
    return false;
  });
  return best;
}

}  // namespace

bool Intersects(const Geometry& a, const Geometry& b) {
  if (a.empty() || b.empty()) return false;
  if (!Grow(a.box).Intersects(b.box)) return false;
  if (AnyVertex(a, [&](const Point& v) { return Locate(v, b) != Loc::kExterior; })) return true;
  if (AnyVertex(b, [&](const Point& v) { return Locate(v, a) != Loc::kExterior; })) return true;
  return AnySegment(a, true, true, [&](const Point& s, const Point& e) {
    return AnySegment(b, true, true, [&](const Point& c, const Point& d) {
      return SegmentsIntersect(s, e, c, d);
    });
  });
}

bool Disjoint(const Geometry& a, const Geometry& b) { return !Intersects(a, b); }

bool Within(const Geometry& a, const Geometry& b) {
  bool meet = false;
  return CoveredBy(a, b, &meet) && meet;
}

bool Contains(const Geometry& a, const Geometry& b) { return Within(b, a); }

bool Equals(const Geometry& a, const Geometry& b) {
  bool meet;
  return CoveredBy(a, b, &meet) && CoveredBy(b, a, &meet);
}

bool Overlaps(const Geometry& a, const Geometry& b) {
  int dim = a.Dimension();
  if (dim != b.Dimension() || !Intersects(a, b)) return false;
  if (Covers(a, b) || Covers(b, a)) return false;
  return InteriorsShare(a, b, dim);
}

PreparedPolygons::PreparedPolygons(const Geometry& g) {
  bool first = true;
  for (const auto& poly : g.polygons) {
    for (size_t r = 0; r < poly.rings.size(); ++r) {
      uint32_t ring = static_cast<uint32_t>(ring_polygon_.size());
      ring_polygon_.push_back(static_cast<uint32_t>(polygons_));
      ring_is_hole_.push_back(r > 0);
      const Ring& pts = poly.rings[r];
      for (size_t i = 0; i + 1 < pts.size(); ++i) {
        edges_.push_back({pts[i], pts[i + 1], ring});
        for (const Point& p : {pts[i], pts[i + 1]}) {
          min_lat_ = first ? p.lat : std::min(min_lat_, p.lat);
          max_lat_ = first ? p.lat : std::max(max_lat_, p.lat);
          first = false;
        }
      }
    }
    ++polygons_;
  }
  if (edges_.empty()) return;
  // About 8 edges per band; the tolerance widens each edge's band range so that "on the edge"
  // is found from any band the position can fall into.
  size_t bands = std::clamp<size_t>(edges_.size() / 8, 1, 4096);
  band_height_ = std::max((max_lat_ - min_lat_) / static_cast<double>(bands), 1e-12);
  bands_.resize(bands);
  auto band = [&](double lat) {
    double b = std::floor((lat - min_lat_) / band_height_);
    return static_cast<size_t>(std::clamp(b, 0.0, static_cast<double>(bands - 1)));
  };
  for (uint32_t e = 0; e < edges_.size(); ++e) {
    const Edge& edge = edges_[e];
    size_t lo = band(std::min(edge.a.lat, edge.b.lat) - kEps);
    size_t hi = band(std::max(edge.a.lat, edge.b.lat) + kEps);
    for (size_t b = lo; b <= hi; ++b) bands_[b].push_back(e);
  }
}

PreparedPolygons::Location PreparedPolygons::Locate(const Point& p) const {
  if (edges_.empty() || p.lat < min_lat_ - kEps || p.lat > max_lat_ + kEps) {
    return Location::kExterior;
  }
  double b = std::floor((p.lat - min_lat_) / band_height_);
  const auto& band =
      bands_[static_cast<size_t>(std::clamp(b, 0.0, static_cast<double>(bands_.size() - 1)))];
  // Crossing parity per ring, as InRing computes it: only edges spanning p.lat can cross the
  // ray, and those are all in p's band. A query polygon has few rings: flags on the stack then
  // (this runs once per candidate position).
  constexpr size_t kSmall = 64;
  uint8_t inside_small[kSmall] = {}, on_ring_small[kSmall] = {};
  std::vector<uint8_t> inside_large, on_ring_large;
  uint8_t* inside = inside_small;
  // As in LocatePolygons: on a polygon's ring is its boundary, whatever the parity says; the
  // answer is interior if p is inside any other polygon.
  uint8_t* on_ring = on_ring_small;
  if (ring_polygon_.size() > kSmall) {
    inside_large.assign(ring_polygon_.size(), 0);
    on_ring_large.assign(polygons_, 0);
    inside = inside_large.data();
    on_ring = on_ring_large.data();
  }
  bool boundary = false;
  for (uint32_t e : band) {
    const Edge& edge = edges_[e];
    if (OnSegment(p, edge.a, edge.b)) {
      on_ring[ring_polygon_[edge.ring]] = 1;
      boundary = true;
    }
    if ((edge.a.lat > p.lat) != (edge.b.lat > p.lat)) {
      double x =
          edge.a.lon + (p.lat - edge.a.lat) * (edge.b.lon - edge.a.lon) / (edge.b.lat - edge.a.lat);
      if (p.lon < x) inside[edge.ring] ^= 1;
    }
  }
  // Inside a polygon: inside its outer ring and no hole. The rings of polygon k are contiguous,
  // outer ring first.
  for (size_t r = 0; r < ring_polygon_.size(); ++r) {
    if (ring_is_hole_[r] || !inside[r] || on_ring[ring_polygon_[r]]) continue;
    bool in_hole = false;
    for (size_t h = r + 1; h < ring_polygon_.size() && ring_is_hole_[h]; ++h) {
      in_hole = in_hole || inside[h];
    }
    if (!in_hole) return Location::kInterior;
  }
  return boundary ? Location::kBoundary : Location::kExterior;
}

namespace {

// Whether segment ab meets the closed box (Liang-Barsky clipping of the segment to the box).
bool SegmentMeetsBox(const Point& a, const Point& b, const Box& box) {
  double t0 = 0, t1 = 1;
  const double d[2] = {b.lon - a.lon, b.lat - a.lat};
  const double lo[2] = {box.min_lon - a.lon, box.min_lat - a.lat};
  const double hi[2] = {box.max_lon - a.lon, box.max_lat - a.lat};
  for (int k = 0; k < 2; ++k) {
    if (d[k] == 0) {
      if (lo[k] > 0 || hi[k] < 0) return false;  // parallel to this axis and outside
      continue;
    }
    double ta = lo[k] / d[k], tb = hi[k] / d[k];
    if (ta > tb) std::swap(ta, tb);
    t0 = std::max(t0, ta);
    t1 = std::min(t1, tb);
    if (t0 > t1) return false;
  }
  return true;
}

}  // namespace

bool PreparedPolygons::CoversBox(const Box& box) const {
  return BoxLocation(box) == Location::kInterior;
}

std::optional<PreparedPolygons::Location> PreparedPolygons::BoxLocation(const Box& box) const {
  if (edges_.empty() || box.max_lat < min_lat_ - kEps || box.min_lat > max_lat_ + kEps) {
    return Location::kExterior;
  }
  if (box.min_lat < min_lat_ || box.max_lat > max_lat_) return std::nullopt;
  // Any edge within the tolerance of the box could put part of it on a boundary or outside:
  // test against the box grown by four times the tolerance (a position within kEps of an edge is
  // on it). Edges that can meet the box are in the bands its latitudes span.
  const Box grown{box.min_lon - 4 * kEps, box.min_lat - 4 * kEps, box.max_lon + 4 * kEps,
                  box.max_lat + 4 * kEps};
  auto band = [&](double lat) {
    double b = std::floor((lat - min_lat_) / band_height_);
    return static_cast<size_t>(std::clamp(b, 0.0, static_cast<double>(bands_.size() - 1)));
  };
  for (size_t b = band(grown.min_lat), last = band(grown.max_lat); b <= last; ++b) {
    for (uint32_t e : bands_[b]) {
      if (SegmentMeetsBox(edges_[e].a, edges_[e].b, grown)) return std::nullopt;
    }
  }
  // No boundary crosses the box, so all of it lies on the same side as its centre.
  Point centre{(box.min_lon + box.max_lon) / 2, (box.min_lat + box.max_lat) / 2};
  Location at = Locate(centre);
  if (at == Location::kBoundary) return std::nullopt;
  return at;
}

void PreparedPolygons::EdgesNear(const Box& box, const std::vector<uint32_t>* among,
                                 std::vector<uint32_t>* out) const {
  out->clear();
  if (edges_.empty()) return;
  // Grown as in BoxLocation.
  const Box grown{box.min_lon - 4 * kEps, box.min_lat - 4 * kEps, box.max_lon + 4 * kEps,
                  box.max_lat + 4 * kEps};
  if (among != nullptr) {
    for (uint32_t e : *among) {
      if (SegmentMeetsBox(edges_[e].a, edges_[e].b, grown)) out->push_back(e);
    }
    return;
  }
  auto band = [&](double lat) {
    double b = std::floor((lat - min_lat_) / band_height_);
    return static_cast<size_t>(std::clamp(b, 0.0, static_cast<double>(bands_.size() - 1)));
  };
  for (size_t b = band(grown.min_lat), last = band(grown.max_lat); b <= last; ++b) {
    for (uint32_t e : bands_[b]) {
      if (SegmentMeetsBox(edges_[e].a, edges_[e].b, grown)) out->push_back(e);
    }
  }
  // An edge over several bands was found in each.
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
}

std::optional<PreparedPolygons::Location> PreparedPolygons::BoxLocation(
    const Box& box, const std::vector<uint32_t>& near) const {
  if (!near.empty()) return std::nullopt;
  if (edges_.empty()) return Location::kExterior;
  Location at = Locate({(box.min_lon + box.max_lon) / 2, (box.min_lat + box.max_lat) / 2});
  if (at == Location::kBoundary) return std::nullopt;
  return at;
}

double DistanceMeters(const Point& a, const Point& b) {
  constexpr double kRad = std::numbers::pi / 180;
  double dlat = (b.lat - a.lat) * kRad, dlon = (b.lon - a.lon) * kRad;
  double h = std::sin(dlat / 2) * std::sin(dlat / 2) + std::cos(a.lat * kRad) *
                                                           std::cos(b.lat * kRad) *
                                                           std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusMeters * std::asin(std::min(1.0, std::sqrt(h)));
}

double DistanceMeters(const Geometry& a, const Geometry& b) {
  if (a.empty() || b.empty()) return std::numeric_limits<double>::infinity();
  // Two points (a near-query on point entities): what the general path below computes for
  // them, without its allocations.
  if (IsSinglePoint(a) && IsSinglePoint(b)) {
    const Point& p = a.points[0];
    const Point& q = b.points[0];
    return Near(p, q) ? 0 : ChordSqToMeters(ChordSq(ToVec(p), ToVec(q)));
  }
  if (Intersects(a, b)) return 0;
  return ChordSqToMeters(std::min(VertexToParts(a, b), VertexToParts(b, a)));
}

}  // namespace civitas::geo
