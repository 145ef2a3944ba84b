package ingest

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// fieldCases are keys and values that take every path of encodeFields.
var (
	fieldKeys = []string{
		"number", "short_description", "u_custom_1", "", "a<b", "x&y", "q\"uote", "back\\slash",
		"tab\there", "nul\x00", "ünï", "\u2028line", "bad\xffutf8", "zz", "A", "0",
	}
	fieldValues = []string{
		`"INC0001"`, `""`, `"a<b>c&d"`, `"line\u2028sep"`, "\"raw\u2028sep\"", "\"raw\u2029sep\"",
		`"esc \" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"`, `"ünïcödé €"`, "\"bad \xff utf8\"",
		`null`, `true`, `false`, `0`, `-1.5e+10`, `12345678901234567890`,
		`{"a": 1, "b" : [1, 2, {"c": "<d>"}]}`, `[ ]`, `[1,"x",null]`, `{ }`, `{"display_value":"Fred","link":"https://x/api?a=1&b=2"}`,
		"\"\xe2\x80\"", "\"\xe2\x80\xa8\"",
	}
)

// TestEncodeFieldsMatchesMarshal checks that encodeFields writes exactly the
// bytes json.Marshal writes, for every key and value above and for random
// maps of them.
func TestEncodeFieldsMatchesMarshal(t *testing.T) {
	// One order cache for every call, as a batch uses one for its records:
	// a stale one must never change the bytes.
	var order []string
	check := func(fields map[string]json.RawMessage) {
		t.Helper()
		want, werr := json.Marshal(fields)
		for _, cache := range []*[]string{nil, &order, &order} {
			got, gerr := encodeFields(fields, cache)
			if (werr != nil) != (gerr != nil) {
				t.Fatalf("fields %q: json.Marshal error %v, encodeFields error %v", fields, werr, gerr)
			}
			if werr == nil && !bytes.Equal(got, want) {
				t.Fatalf("fields %q:\n got %s\nwant %s", fields, got, want)
			}
		}
	}
	check(map[string]json.RawMessage{})
	for _, k := range fieldKeys {
		for _, v := range fieldValues {
			check(map[string]json.RawMessage{k: json.RawMessage(v)})
		}
	}
	check(map[string]json.RawMessage{"a": nil})
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		fields := map[string]json.RawMessage{}
		for range rng.IntN(20) {
			fields[fieldKeys[rng.IntN(len(fieldKeys))]] = json.RawMessage(fieldValues[rng.IntN(len(fieldValues))])
		}
		check(fields)
	}
}

// TestEncodeFieldsRefusesInvalidJSON checks that a value json.Marshal
// refuses is refused, whether or not it looks like a string.
func TestEncodeFieldsRefusesInvalidJSON(t *testing.T) {
	for _, v := range []string{`"\x"`, `"\u12"`, `"\u12g4"`, `"a\"`, `"tab	in"`, `"`, `{`, `[1,]`, ``, `nul`, `"a" "b"`} {
		fields := map[string]json.RawMessage{"f": json.RawMessage(v)}
		if _, err := json.Marshal(fields); err == nil {
			t.Fatalf("json.Marshal accepts %q; the case is wrong", v)
		}
		if got, err := encodeFields(fields, nil); err == nil {
			t.Errorf("encodeFields(%q) = %s, want an error", v, got)
		}
	}
}
