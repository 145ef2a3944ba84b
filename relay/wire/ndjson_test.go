package wire

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// stdNDJSON is what EncodeNDJSON wrote before recordWriter: json.Encoder
// without HTML escaping, one record a line.
func stdNDJSON(records []Record) ([]byte, error) {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	for i := range records {
		if err := e.Encode(&records[i]); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

// TestEncodeNDJSONSameBytes: recordWriter writes exactly what json.Encoder
// wrote, for plain records and for every odd string, value and field set
// (escapes, non-ASCII, invalid UTF-8, HTML characters, whitespace inside
// objects, nil and invalid values, changing field sets).
func TestEncodeNDJSONSameBytes(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	strs := []string{"", "incident", "a b", `q"uote`, `back\slash`, "tab\t", "nl\n", "\x01", "\x7f", "é", "\u2028", "\xff", "<&>", "2026-01-02 03:04:05"}
	vals := []json.RawMessage{
		json.RawMessage(`"plain"`), json.RawMessage(`"with space and <&>"`), json.RawMessage(`"esc\"aped\\ \u00e9 \n"`),
		json.RawMessage("\"\u2028 é \xff\""), json.RawMessage(`""`), json.RawMessage(`12.5e3`), json.RawMessage(`true`),
		json.RawMessage(`null`), nil, json.RawMessage(`{ "link" : "https://x/y" , "value" : "abc" }`),
		json.RawMessage(`[1, 2 ,"a b"]`), json.RawMessage(` "padded" `), json.RawMessage(`"bad \x escape"`),
		json.RawMessage(`{"unterminated"`), json.RawMessage("\"ctl \x01\""), json.RawMessage(`"a"b"`),
	}
	names := []string{"sys_id", "number", "short_description", "caller_id", "a", "B", "é", "q\"", "<x>", "z"}
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	for i := range 3000 {
		var recs []Record
		for range 1 + rng.IntN(4) {
			r := Record{Op: OpUpsert, Table: "incident", SysID: "0123456789abcdef0123456789abcdef",
				SysUpdatedOn: "2026-11-01 10:00:00", SysModCount: rng.Int64N(1 << 53)}
			if rng.IntN(4) == 0 {
				r.Op, r.Table, r.SysID, r.SysUpdatedOn = Op(pick(strs)), pick(strs), pick(strs), pick(strs)
			}
			if rng.IntN(5) == 0 {
				r.Reason = pick(strs)
			}
			r.Repair = rng.IntN(5) == 0
			switch rng.IntN(6) {
			case 0: // no fields
			case 1:
				r.Fields = map[string]json.RawMessage{}
			default:
				r.Fields = map[string]json.RawMessage{}
				for range rng.IntN(len(names) + 1) {
					r.Fields[pick(names)] = vals[rng.IntN(len(vals))]
				}
			}
			recs = append(recs, r)
		}
		want, wantErr := stdNDJSON(recs)
		got, err := EncodeNDJSON(recs)
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("case %d: got %q (err %v), json.Encoder %q (err %v)", i, got, err, want, wantErr)
		}
	}
}

// TestEncodeNDJSONSharedFieldSets: records that share, then change, their
// field set (SortedNames' reuse) are written in name order each time.
func TestEncodeNDJSONSharedFieldSets(t *testing.T) {
	a := map[string]json.RawMessage{"b": json.RawMessage(`"1"`), "a": json.RawMessage(`"2"`), "c": json.RawMessage(`"3"`)}
	b := map[string]json.RawMessage{"b": json.RawMessage(`"1"`), "a": json.RawMessage(`"2"`), "d": json.RawMessage(`"3"`)}
	recs := []Record{{Op: OpUpsert, Table: "t", Fields: a}, {Op: OpUpsert, Table: "t", Fields: a}, {Op: OpUpsert, Table: "t", Fields: b},
		{Op: OpUpsert, Table: "t", Fields: map[string]json.RawMessage{"a": nil}}, {Op: OpUpsert, Table: "t", Fields: a}}
	want, _ := stdNDJSON(recs)
	got, err := EncodeNDJSON(recs)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("got %q (%v), want %q", got, err, want)
	}
}
