#include "server/demo.h"

#include <fstream>
#include <future>
#include <map>
#include <sstream>

#include "ngsild/ops.h"
#include "ngsild/parse.h"

namespace civitas::server {
namespace {

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::vector<std::string>> ReadCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::istringstream ls(line);
    std::string f;
    while (std::getline(ls, f, ',')) fields.push_back(f);
    rows.push_back(std::move(fields));
  }
  return rows;
}

Json Prop(Json value) {
  Json p = Json::MakeObject();
  p.Set("type", "Property");
  p.Set("value", std::move(value));
  return p;
}

// "2014-11-04 14:13:47.581" (no zone in the source) read as UTC.
std::string SourceTimeAsUtc(const std::string& t) {
  std::string s = t;
  if (s.size() > 10 && s[10] == ' ') s[10] = 'T';
  return s + "Z";
}

}  // namespace

Result<int> LoadDemo(const std::string& dir, storage::EntityStore& store,
                     const jsonld::Context& ctx) {
  std::vector<Json> bodies;

  auto locations = ReadFile(dir + "/garage_locations.csv");
  if (!locations.ok()) return locations.status();
  auto occupancy = ReadFile(dir + "/parking_latest.csv");
  if (!occupancy.ok()) return occupancy.status();
  std::map<std::string, std::vector<std::string>> latest;  // code -> count, total, time
  auto occ_rows = ReadCsv(*occupancy);
  for (size_t i = 1; i < occ_rows.size(); ++i) {
    if (occ_rows[i].size() >= 4) latest[occ_rows[i][0]] = occ_rows[i];
  }
  auto loc_rows = ReadCsv(*locations);
  for (size_t i = 1; i < loc_rows.size(); ++i) {
    const auto& r = loc_rows[i];
    if (r.size() < 3) continue;
    Json e = Json::MakeObject();
    e.Set("id", "urn:ngsi-ld:OffStreetParking:aarhus:" + r[0]);
    e.Set("type", "OffStreetParking");
    e.Set("name", Prop(Json(r[0])));
    Json point = Json::MakeObject();
    point.Set("type", "Point");
    point.Set("coordinates", Json(Json::Array{Json(std::stod(r[2])), Json(std::stod(r[1]))}));
    Json loc = Json::MakeObject();
    loc.Set("type", "GeoProperty");
    loc.Set("value", std::move(point));
    e.Set("location", std::move(loc));
    if (auto it = latest.find(r[0]); it != latest.end()) {
      int64_t count = std::stoll(it->second[1]);
      int64_t total = std::stoll(it->second[2]);
      std::string observed = SourceTimeAsUtc(it->second[3]);
      e.Set("totalSpotNumber", Prop(Json(total)));
      Json occ = Prop(Json(count));
      occ.Set("observedAt", observed);
      e.Set("occupiedSpotNumber", std::move(occ));
      Json avail = Prop(Json(std::max<int64_t>(0, total - count)));
      avail.Set("observedAt", observed);
      e.Set("availableSpotNumber", std::move(avail));
    }
    bodies.push_back(std::move(e));
  }

  auto districts = ReadFile(dir + "/aarhus_local_community.wgs84.geojson");
  if (!districts.ok()) return districts.status();
  auto geo = ParseJson(*districts, 64);
  if (!geo.ok()) return geo.status();
  if (const Json* features = geo->Find("features"); features && features->is_array()) {
    for (const auto& f : features->as_array()) {
      const Json* props = f.Find("properties");
      const Json* geometry = f.Find("geometry");
      if (props == nullptr || geometry == nullptr) continue;
      std::string number(props->GetString("lokalsamfund"));
      Json e = Json::MakeObject();
      e.Set("id", "urn:ngsi-ld:AdministrativeArea:aarhus:district:" + number);
      e.Set("type", "AdministrativeArea");
      e.Set("name", Prop(Json(props->GetString("distrikt"))));
      Json loc = Json::MakeObject();
      loc.Set("type", "GeoProperty");
      loc.Set("value", *geometry);
      e.Set("location", std::move(loc));
      bodies.push_back(std::move(e));
    }
  }

  std::vector<storage::WriteOp> ops;
  auto created = std::make_shared<std::atomic<int>>(0);
  for (const auto& body : bodies) {
    ngsild::ParseOptions po;
    po.require_id_and_type = true;
    auto fragment = ngsild::ParseEntityBody(body, ctx, po);
    if (!fragment.ok()) {
      return Status::Internal("demo entity " + std::string(body.GetString("id")) + ": " +
                              fragment.status().detail());
    }
    auto f = std::make_shared<ngsild::EntityFragment>(std::move(*fragment));
    ops.push_back(
        {"", f->id,
         [f, created](const ngsild::EntityPtr& current, Micros now) -> Result<storage::Outcome> {
           if (current) return storage::Outcome::None();
           ++*created;
           return storage::Outcome::Put(ngsild::CreateEntity(std::move(*f), now));
         }});
  }
  std::promise<std::vector<Status>> done;
  auto future = done.get_future();
  store.Submit(std::move(ops), [&done](std::vector<Status> st) { done.set_value(std::move(st)); });
  for (const auto& st : future.get()) {
    if (!st.ok()) return st;
  }
  return created->load();
}

}  // namespace civitas::server
