package snowtest

import (
	"cmp"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cond is one `field<op>value` clause of an encoded query.
type cond struct {
	field, op, value string
}

// orderKey is one ORDERBY / ORDERBYDESC clause.
type orderKey struct {
	field string
	desc  bool
}

// query is a parsed encoded query: the ^NQ groups are OR-ed, each group is an
// AND of OR-sets (a clause and the ^OR clauses that follow it), and the ORDERBY
// keys, wherever they appear, order the whole result.
type query struct {
	groups [][][]cond
	order  []orderKey
}

// operators in the order they must be tried (longest first where one is a
// prefix of another).
var operators = []string{
	"ISNOTEMPTY", "ISEMPTY", "NOT LIKE", "NOT IN", "STARTSWITH", "ENDSWITH", "BETWEEN",
	"ANYTHING", "LIKE", "IN", "!=", "<=", ">=", "=", "<", ">",
}

// parseQuery parses an encoded query. It never fails: a clause it cannot read
// is dropped, as ServiceNow drops what it does not understand.
func parseQuery(q string) query {
	var out query
	group := [][]cond{}
	for _, tok := range splitQuery(q) {
		if rest, ok := strings.CutPrefix(tok, "NQ"); ok {
			out.groups = append(out.groups, group)
			group = [][]cond{}
			tok = rest
		}
		switch {
		case tok == "" || tok == "EQ":
		case strings.HasPrefix(tok, "ORDERBYDESC"):
			out.order = append(out.order, orderKey{field: tok[len("ORDERBYDESC"):], desc: true})
		case strings.HasPrefix(tok, "ORDERBY"):
			out.order = append(out.order, orderKey{field: tok[len("ORDERBY"):]})
		case strings.HasPrefix(tok, "OR") && len(group) > 0:
			if c, ok := parseCond(tok[2:]); ok {
				group[len(group)-1] = append(group[len(group)-1], c)
			}
		default:
			tok = strings.TrimPrefix(tok, "OR") // an ^OR with nothing before it is an AND
			if c, ok := parseCond(tok); ok {
				group = append(group, []cond{c})
			}
		}
	}
	out.groups = append(out.groups, group)
	return out
}

// splitQuery splits on ^ and unescapes ^^ (a literal caret in a value).
func splitQuery(q string) []string {
	var toks []string
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if q[i] != '^' {
			b.WriteByte(q[i])
			continue
		}
		if i+1 < len(q) && q[i+1] == '^' {
			b.WriteByte('^')
			i++
			continue
		}
		toks = append(toks, b.String())
		b.Reset()
	}
	return append(toks, b.String())
}

func parseCond(tok string) (cond, bool) {
	i := 0
	for i < len(tok) && isFieldByte(tok[i]) {
		i++
	}
	if i == 0 {
		return cond{}, false
	}
	rest := tok[i:]
	for _, op := range operators {
		if v, ok := strings.CutPrefix(rest, op); ok {
			return cond{field: tok[:i], op: op, value: v}, true
		}
	}
	return cond{}, false
}

func isFieldByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.'
}

// unknownFields returns the fields the query names that def does not have.
func (q query) unknownFields(def *tableDef) []string {
	var unknown []string
	for _, g := range q.groups {
		for _, set := range g {
			for _, c := range set {
				if !slices.Contains(def.fields, c.field) {
					unknown = append(unknown, c.field)
				}
			}
		}
	}
	for _, o := range q.order {
		if !slices.Contains(def.fields, o.field) {
			unknown = append(unknown, o.field)
		}
	}
	return unknown
}

// prune drops every clause on a field def does not have, as older releases do.
func (q query) prune(def *tableDef) query {
	out := query{}
	for _, g := range q.groups {
		ng := [][]cond{}
		for _, set := range g {
			var ns []cond
			for _, c := range set {
				if slices.Contains(def.fields, c.field) {
					ns = append(ns, c)
				}
			}
			if len(ns) > 0 {
				ng = append(ng, ns)
			}
		}
		out.groups = append(out.groups, ng)
	}
	for _, o := range q.order {
		if slices.Contains(def.fields, o.field) {
			out.order = append(out.order, o)
		}
	}
	return out
}

// match reports whether row satisfies the query's conditions.
func (q query) match(row map[string]string) bool {
	for _, g := range q.groups {
		if matchGroup(g, row) {
			return true
		}
	}
	return len(q.groups) == 0
}

func matchGroup(g [][]cond, row map[string]string) bool {
	for _, set := range g {
		if !slices.ContainsFunc(set, func(c cond) bool { return c.match(row[c.field]) }) {
			return false
		}
	}
	return true
}

func (c cond) match(a string) bool {
	v := literal(c.value)
	switch c.op {
	case "=":
		return compare(a, v) == 0
	case "!=":
		return compare(a, v) != 0
	case "<", "<=", ">", ">=":
		if a == "" { // an empty field is NULL in the database: no ordering holds
			return false
		}
		n := compare(a, v)
		return c.op == "<" && n < 0 || c.op == "<=" && n <= 0 ||
			c.op == ">" && n > 0 || c.op == ">=" && n >= 0
	case "LIKE":
		return strings.Contains(a, v)
	case "NOT LIKE":
		return !strings.Contains(a, v)
	case "STARTSWITH":
		return strings.HasPrefix(a, v)
	case "ENDSWITH":
		return strings.HasSuffix(a, v)
	case "IN":
		return inList(a, c.value)
	case "NOT IN":
		return !inList(a, c.value)
	case "ISEMPTY":
		return a == ""
	case "ISNOTEMPTY":
		return a != ""
	case "ANYTHING":
		return true
	case "BETWEEN":
		lo, hi, ok := strings.Cut(c.value, "@")
		return ok && a != "" && compare(a, literal(lo)) >= 0 && compare(a, literal(hi)) <= 0
	}
	return false
}

func inList(a, list string) bool {
	for _, v := range strings.Split(list, ",") {
		if compare(a, literal(v)) == 0 {
			return true
		}
	}
	return false
}

// compare orders two stored values: numerically when both are integers,
// otherwise as case-sensitive text (UTC date-times sort correctly as text).
func compare(a, b string) int {
	return valueKey(a).compare(valueKey(b))
}

// sortValue is a stored value ready for comparison.
type sortValue struct {
	text  string
	num   int64
	isNum bool
}

func valueKey(s string) sortValue {
	n, ok := integer(s)
	return sortValue{text: s, num: n, isNum: ok}
}

func (a sortValue) compare(b sortValue) int {
	if a.isNum && b.isNum {
		return cmp.Compare(a.num, b.num)
	}
	return strings.Compare(a.text, b.text)
}

// integer parses s when it is a base-10 integer. Checking the digits first
// keeps the common case, text and date-times, clear of the error
// strconv.ParseInt allocates.
func integer(s string) (int64, bool) {
	digits := s
	if s != "" && (s[0] == '+' || s[0] == '-') {
		digits = s[1:]
	}
	if digits == "" {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

var dateGenerateRE = regexp.MustCompile(`^javascript:gs\.dateGenerate\('(\d{4}-\d{2}-\d{2})','(\d{2}:\d{2}:\d{2})'\)$`)

// literal turns a query value into a stored value: gs.dateGenerate reads its
// arguments in the API user's time zone; everything else is taken as is.
func literal(v string) string {
	m := dateGenerateRE.FindStringSubmatch(v)
	if m == nil {
		return v
	}
	t, err := time.ParseInLocation(timeLayout, m[1]+" "+m[2], displayZone)
	if err != nil {
		return v
	}
	return t.UTC().Format(timeLayout)
}

// sortRows orders rows by the query's ORDERBY keys, ties (and a query
// without ORDERBY) in sys_id order, as the Table API answers.
func (q query) sortRows(rows []map[string]string) {
	type keyed struct {
		row  map[string]string
		keys []sortValue
	}
	ks := make([]keyed, len(rows))
	for i, r := range rows {
		ks[i] = keyed{row: r, keys: make([]sortValue, len(q.order))}
		for j, k := range q.order {
			ks[i].keys[j] = valueKey(r[k.field])
		}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		for j, k := range q.order {
			n := a.keys[j].compare(b.keys[j])
			if k.desc {
				n = -n
			}
			if n != 0 {
				return n
			}
		}
		return strings.Compare(a.row["sys_id"], b.row["sys_id"])
	})
	for i := range ks {
		rows[i] = ks[i].row
	}
}
