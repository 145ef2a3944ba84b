package servicenow

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"
)

// stdList is decodeList's encoding/json path alone: what scanList must
// agree with.
func stdList(body []byte) ([]Row, bool) {
	var env struct {
		Result *[]Row `json:"result"`
	}
	if json.Unmarshal(body, &env) != nil || env.Result == nil {
		return nil, false
	}
	for _, r := range *env.Result {
		if r == nil {
			return nil, false
		}
	}
	return *env.Result, true
}

// checkScanList fails when scanList accepts body and encoding/json does
// not, or they decode it differently.
func checkScanList(t *testing.T, body []byte) (accepted bool) {
	t.Helper()
	orig := bytes.Clone(body)
	fast, ok := scanList(body)
	if !ok {
		return false
	}
	std, stdOK := stdList(body)
	if !stdOK {
		t.Fatalf("scanList accepted a body encoding/json refuses: %q", body)
	}
	if len(fast) != len(std) {
		t.Fatalf("scanList read %d rows, encoding/json %d: %q", len(fast), len(std), body)
	}
	for i := range std {
		if !reflect.DeepEqual(map[string]json.RawMessage(fast[i]), map[string]json.RawMessage(std[i])) {
			t.Fatalf("row %d: scanList %q, encoding/json %q (body %q)", i, fast[i], std[i], body)
		}
	}
	if !bytes.Equal(body, orig) {
		t.Fatal("scanList changed the body")
	}
	return true
}

// scanListSeeds are bodies of every shape scanList must get right.
func scanListSeeds(t testing.TB) [][]byte {
	seeds := []string{
		`{"result":[]}`,
		` { "result" : [ { } , {"a":"b"} ] } `,
		`{"result":[{"sys_id":"a","number":"INC1","caller_id":{"link":"x","value":"u1"}}]}`,
		`{"result":[{"a":1,"b":-0.5e+10,"c":true,"d":false,"e":null,"f":[1,[2,{"g":"h"}]],"a":"dup"}]}`,
		`{"result":[{"esc\"aped":"\u00e9\n\t\\\/","ünï":"\u2028 ünï","x":"\ud800"}]}`,
		`{"result":[{"a":{ "link" : "x" , "value" : "y" }}]}`,
		`{"Result":[{"a":"b"}]}`,
		`{"result":[{"a":"b"}],"result":[]}`,
		`{"result":[{"a":"b"}],"other":1}`,
		`{"result":null}`,
		`{"result":[null]}`,
		`{"result":["x"]}`,
		`{"result":[{"a":01}]}`,
		`{"result":[{"a":1.}]}`,
		`{"result":[{"a":tru}]}`,
		`{"result":[{"a":"b"}]}x`,
		`{"result":[{"a":"b",}]}`,
		`{"result":[{"a":"\x"}]}`,
		"{\"result\":[{\"a\":\"\x01\"}]}",
		"{\"result\":[{\"a\":\"\xff\xfe\",\"\xff\":\"x\"}]}",
		`{"result":[{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]}`,
	}
	var out [][]byte
	for _, s := range seeds {
		out = append(out, []byte(s))
	}
	if f, err := os.ReadFile("../../../shared/fixtures/servicenow/incident_pdi_INC0000060.json"); err == nil {
		out = append(out, f)
	}
	return out
}

// TestScanListAgreesWithEncodingJSON: on hand-made bodies, every prefix
// of them (cut-off answers) and random byte edits, scanList either hands
// the body to encoding/json or decodes exactly what it would.
func TestScanListAgreesWithEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("{}[]\":,\\ \t\nu0123456789abcdefE+-.tfnrlse\x00\x1f\x7f\xc3\xa9\xff")
	accepted := 0
	for _, body := range scanListSeeds(t) {
		if checkScanList(t, body) {
			accepted++
		}
		for n := range len(body) {
			checkScanList(t, body[:n])
		}
		for range 2000 {
			b := bytes.Clone(body)
			for range 1 + rng.IntN(3) {
				i := rng.IntN(len(b))
				switch rng.IntN(3) {
				case 0:
					b[i] = alphabet[rng.IntN(len(alphabet))]
				case 1:
					b = append(b[:i], b[i+1:]...)
				default:
					b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
				}
				if len(b) == 0 {
					break
				}
			}
			if checkScanList(t, b) {
				accepted++
			}
		}
	}
	if accepted < 1000 {
		t.Fatalf("scanList accepted only %d bodies: the test no longer exercises its fast path", accepted)
	}
}

func FuzzScanList(f *testing.F) {
	for _, s := range scanListSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkScanList(t, body) })
}
