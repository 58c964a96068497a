#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "ngsild/entity.h"
#include "query/index_plan.h"

namespace civitas::query {

// Options of a q expression that come from other request parameters.
struct QOptions {
  // expandValues (clause 4.9): attribute names, as written in q, whose string literals are
  // expanded with the request's @context before matching (for VocabProperty values, which are
  // stored expanded). Without it a literal is compared as written.
  std::vector<std::string> expand_values;
};

// Finds a linked entity by id for linked-entity terms (rel{attr}, clause 4.9 EXAMPLE 13);
// returns null when it does not exist or the caller may not see it.
using EntityLookup = std::function<ngsild::EntityPtr(std::string_view id)>;

// An NGSI-LD query (the q parameter, ETSI GS CIM 009 clause 4.9).
//
// Grammar as implemented (a superset of the ABNF of clause 4.9; positions in error details
// count bytes from 0):
//
//   Query     = Or
//   Or        = And *("|" And)                ; ";" binds tighter than "|"
//   And       = Factor *(";" Factor)
//   Factor    = "(" Or ")" / "!" Path / Path [Op Value]
//   Path      = Name "{" LinkPath "}"         ; linked entity: rel{attr}
//             / Name *("." Name) ["[" Member *("." Member) "]"]
//   LinkPath  = [Type *("," Type) ":"] Path
//   Op        = "==" / "!=" / ">=" / ">" / "<=" / "<" / "~=" / "!~="
//   Value     = Item *("," Item)              ; lists and ranges only with == and !=
//   Item      = Literal [".." Literal]
//   Literal   = JSON number / JSON string / true / false / DateTime / Date / Time / bare
//   Name      = (letter / "_" / non-ASCII byte) *(letter / digit / "_" / "-" / non-ASCII byte)
//               ; and ":" outside braces, for compact IRIs such as schema:name
//   Member    = 1*(any byte but "." "[" "]" and controls)
//
// "!" Path is an absence test (no operator may follow). At most 32 levels of parentheses and 8
// of linked entities.
//
// A bare literal (an unquoted URI such as urn:ngsi-ld:City:Pisa, or a word) is a string and is
// accepted with == and != only; ordering operators take a number, quoted string, DateTime, Date
// or Time. A pattern after ~= / !~= is a RE2 expression (linear time), quoted as a JSON string
// or unquoted up to the next ";" "|" or ")" outside its own groups; it matches anywhere in the
// target string unless anchored. Spaces between tokens are ignored.
//
// Targets: the first name is an attribute (expanded with the request's @context); further
// dotted names are sub-attributes, or one of the members observedAt, unitCode, datasetId,
// createdAt, modifiedAt, objectType. The bracketed members address the inside of a JSON value
// ("*" is any member); on a LanguageProperty the first member is the language tag ([*]: any
// language); on arrays a numeric member is an index and any other member applies to every
// element. Top-level createdAt and modifiedAt are the entity's system timestamps. The target
// values of an attribute are the value of a Property / GeoProperty, the object(s) of a
// Relationship, the objectList of a ListRelationship, the languageMap values of a
// LanguageProperty, the vocab of a VocabProperty, the valueList of a ListProperty and the json
// of a JsonProperty; every instance (datasetId) counts, and an array value contributes each of
// its elements.
//
// Semantics: a term holds when some target value satisfies it (==, >, >=, <, <=, ~=), with
// these exceptions: existence needs the target to exist; != and !~= hold when the target
// exists and no target value satisfies == / ~= (so a value of another type is unequal);
// relationship targets support only == and != (others never match); ~= and !~= need string
// targets. Values of different types never compare (a number is not equal to a string);
// DateTimes compare as instants (a quoted string that is a DateTime too), a Date against a
// DateTime as midnight UTC, Times by time of day; strings by bytes; integers exactly, other
// numbers as doubles.
//
// Not in the grammar of clause 4.9 but accepted: "!attr" (absence), spaces, bare words with ==
// and != (the annexes write brandName!=Mercedes), ranges inside value lists, nested
// parentheses. Rejected with BadRequestData: ranges, lists, booleans and bare words after an
// ordering operator; "id" and "type" as attribute names (they are not attributes). Text is
// taken as written: percent-escapes are not decoded (the HTTP layer decodes query strings; a q
// from a JSON body, as in a subscription, is decoded by its caller if it wants to).
//
// Immutable and cheap to copy; Matches is safe to call from many threads and does not allocate
// (names are expanded, patterns compiled and literals parsed by Parse), apart from what a
// caller's EntityLookup does.
class QExpr {
 public:
  // An empty expression: matches every entity.
  QExpr();

  // Parses text (already URL-decoded); expand maps an attribute name (a term) to its IRI with
  // the request's @context. Errors are BadRequestData naming the position.
  static Result<QExpr> Parse(std::string_view text,
                             const std::function<std::string(std::string_view)>& expand,
                             const QOptions& options = {});

  // True if the entity matches. Linked-entity terms see no linked entity (see LinkDepth).
  bool Matches(const ngsild::Entity& e) const;
  // Same, resolving the objects of linked-entity terms through lookup. One call makes at most
  // 1000 lookups (objects multiply at each level of a{b{c}}); past that, objects count as
  // not found.
  bool Matches(const ngsild::Entity& e, const EntityLookup& lookup) const;

  // Expanded names of the entity's attributes the expression reads (the first name of each
  // path; for rel{...} the relationship), without duplicates, in order of appearance. The
  // system timestamps createdAt/modifiedAt are not attributes: a q that reads only those gives
  // an empty list (clause 5.7.2.4 does not count it as narrowing a query).
  std::vector<std::string> Attributes() const;

  // The deepest nesting of linked-entity terms (rel{attr} is 1, a{b{c}} is 2); 0 if none. The
  // caller rejects a q deeper than its join level (clause 5.7.2.4).
  int LinkDepth() const;

  // For index planning. When the expression is a term `attr OP literal`, or a conjunction (;)
  // of terms some of which are, the terms on top-level attributes with OP one of == > >= < <=
  // and a single number, boolean or string literal (not date-like); a range a==x..y gives
  // ">=" x and "<=" y. Such a term holds when some target value of some instance of the
  // attribute (as described above) compares so with the literal. The caller may use them to
  // narrow candidates and must still call Matches.
  struct Comparison {
    std::string attribute;
    std::string op;
    Json literal;
  };
  std::vector<Comparison> IndexableTerms() const;

  // The expression as index look-ups (see IndexPlan); an empty expression is All(exact).
  IndexPlan Plan() const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace civitas::query
