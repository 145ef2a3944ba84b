package confload

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sei-edge/servicenow-edge/relay/secret"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type testConf struct {
	Name  string        `yaml:"name"`
	Pass  secret.Secret `yaml:"password"`
	Wait  Duration      `yaml:"wait"`
	Size  ByteSize      `yaml:"size"`
	List  []string      `yaml:"list"`
	Inner struct {
		Port int    `yaml:"port"`
		Note string `yaml:"note"`
	} `yaml:"inner"`
	Tables map[string]struct {
		Filter string `yaml:"filter"`
	} `yaml:"tables"`
}

func TestDecodeValues(t *testing.T) {
	var c testConf
	c.Wait = Duration(time.Hour)
	raw := "name: a\nwait: 90d\nsize: 8GiB\ninner: {port: 7}\nlist: [x, y]\n"
	if err := Decode([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	if c.Wait.D() != 90*24*time.Hour || c.Size != 8<<30 || c.Inner.Port != 7 || len(c.List) != 2 {
		t.Errorf("decoded %+v", c)
	}
	var d testConf
	d.Wait = Duration(time.Minute)
	if err := Decode([]byte("  \n"), &d); err != nil || d.Wait.D() != time.Minute {
		t.Errorf("empty document: %v %v", err, d.Wait)
	}
}

// TestDecodeErrorsNameKeyNeverValue: every kind of YAML mistake names the
// key path, line and column, and never prints a value or a neighbouring
// line, the password beside it included.
func TestDecodeErrorsNameKeyNeverValue(t *testing.T) {
	const pw = "pw-UNIQUE-4711"
	tests := []struct {
		name, yaml, want string
	}{
		{"syntax next to password", "password: " + pw + "\ninner:\n  port: 7\n note: [oops\n", "line"},
		{"unclosed quote", "password: \"" + pw + "\nname: x\n", "line"},
		{"tab indent", "inner:\n\tport: 1\npassword: " + pw + "\n", "line"},
		{"unknown key", "password: " + pw + "\ninner: {port: 1, prot: 2}\n", "inner.prot: "},
		{"unknown top key", "password: " + pw + "\nnmae: x\n", "nmae: "},
		{"duplicate key", "password: " + pw + "\npassword: " + pw + "x\n", "password: "},
		{"wrong type", "password: " + pw + "\ninner: {port: " + pw + "}\n", "inner.port: wrong type"},
		{"overflow", "password: " + pw + "\ninner: {port: 99999999999999999999999}\n", "inner.port: number out of range"},
		{"bad duration", "password: " + pw + "\nwait: " + pw + "\n", "wait: must be a duration"},
		{"bad size", "password: " + pw + "\nsize: " + pw + "\n", "size: must be a size"},
		{"list where map", "password: " + pw + "\ntables: [" + pw + "]\n", "tables"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c testConf
			err := Decode([]byte(tt.yaml), &c)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Decode = %v, want *Error", err)
			}
			msg := err.Error()
			if strings.Contains(msg, pw) || strings.Contains(msg, "4711") {
				t.Fatalf("error shows a value:\n%s", msg)
			}
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "line ") || !strings.Contains(msg, "column ") {
				t.Fatalf("error %q, want it to contain %q, a line and a column", msg, tt.want)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	t.Setenv("CONFLOAD_A", "alpha")
	t.Setenv("CONFLOAD_EMPTY", "")
	tests := []struct{ in, want string }{
		{"${CONFLOAD_A}", "alpha"},
		{"x${CONFLOAD_A}y", "xalphay"},
		{"p$word", "p$word"},
		{"$CONFLOAD_A", "$CONFLOAD_A"},
		{"a$$b", "a$b"},
		{"$${CONFLOAD_A}", "${CONFLOAD_A}"},
		{"${CONFLOAD_EMPTY}", ""},
		{"${not valid}", "${not valid}"},
		{"${", "${"},
		{"trailing$", "trailing$"},
	}
	for _, tt := range tests {
		got, missing := ExpandString(tt.in, os.LookupEnv)
		if got != tt.want || len(missing) != 0 {
			t.Errorf("ExpandString(%q) = %q, %v; want %q", tt.in, got, missing, tt.want)
		}
	}
	if _, missing := ExpandString("${CONFLOAD_UNSET_X}", os.LookupEnv); len(missing) != 1 {
		t.Errorf("unset variable not reported")
	}
}

// TestExpandAfterParse: a ${NAME} in a comment is not expanded (an unset
// one is no error) and a value expanded into YAML syntax stays a value.
func TestExpandAfterParse(t *testing.T) {
	t.Setenv("CONFLOAD_PW", "a: b\n- c # d")
	raw := "# password: ${CONFLOAD_UNSET_Y}\npassword: ${CONFLOAD_PW}\nname: p$word\ntables: {incident: {filter: '${CONFLOAD_UNSET_Z}'}}\n"
	var c testConf
	if err := Decode([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	p := Expand(&c)
	if c.Pass.Reveal() != "a: b\n- c # d" || c.Name != "p$word" {
		t.Errorf("expanded %q %q", c.Pass.Reveal(), c.Name)
	}
	if len(p) != 1 || p[0] != "tables.incident.filter: environment variable CONFLOAD_UNSET_Z is not set" {
		t.Errorf("problems %v", p)
	}
}

func TestReadSecretFiles(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	if err := os.WriteFile(f, []byte("from-file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var a, b, c secret.Secret
	b = "inline"
	p := ReadSecretFiles(
		SecretFile{"x.password", f, &a},
		SecretFile{"x.token", f, &b},
		SecretFile{"x.dsn", filepath.Join(dir, "nope"), &c},
	)
	if a.Reveal() != "from-file" {
		t.Errorf("a = %q", a.Reveal())
	}
	if len(p) != 2 || !strings.HasPrefix(p[0], "x.token_file: set only one of x.token and x.token_file") || !strings.HasPrefix(p[1], "x.dsn_file: ") {
		t.Errorf("problems %v", p)
	}
}

func TestParseByteSizeAndDuration(t *testing.T) {
	sizes := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"1024", 1024, true}, {"8GiB", 8 << 30, true}, {"100MB", 100e6, true}, {"64 KiB", 64 << 10, true},
		{"1B", 1, true}, {"-1", 0, false}, {"GiB", 0, false}, {"1.5GiB", 0, false}, {"99999999999TiB", 0, false},
	}
	for _, tt := range sizes {
		got, err := ParseByteSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	if s := ByteSize(8 << 30).String(); s != "8GiB" {
		t.Errorf("String() = %q", s)
	}
	durs := []struct {
		in   string
		want time.Duration
		ok   bool
	}{{"90d", 90 * 24 * time.Hour, true}, {"1h30m", 90 * time.Minute, true}, {"-1d", 0, false}, {"soon", 0, false}, {"1.5d", 0, false}}
	for _, tt := range durs {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || got.D() != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("name: a\nwait: 90d\nsize: 8GiB\ninner: {port: 7}\n"))
	f.Add([]byte("password: x\n note: [\n"))
	f.Add([]byte("tables: {a: {filter: '${X}'}}\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var c testConf
		err := Decode(raw, &c)
		if err == nil {
			Expand(&c)
			return
		}
		// A decode error never quotes a value: the text after "key: " on
		// a line, when it appears nowhere else (where it could be a key).
		for _, line := range strings.Split(string(raw), "\n") {
			_, v, ok := strings.Cut(line, ": ")
			v = strings.TrimSpace(v)
			if ok && len(v) > 12 && strings.Count(string(raw), v) == 1 && strings.Contains(err.Error(), v) {
				t.Fatalf("error %q quotes the value %q", err, v)
			}
		}
	})
}
