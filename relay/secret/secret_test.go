package secret

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"go.uber.org/goleak"
)

func TestSecretNeverPrinted(t *testing.T) {
	s := Secret("hunter2")
	j, _ := json.Marshal(struct{ S Secret }{s})
	y, _ := yaml.Marshal(map[string]Secret{"s": s})
	txt, _ := s.MarshalText()
	outs := []string{s.String(), fmt.Sprintf("%v|%s|%#v|%q|%d|%x|%+v|%10s", s, s, s, s, s, s, s, s), string(j), string(y), string(txt)}
	for _, got := range outs {
		if strings.Contains(got, "hunter2") || strings.Contains(got, fmt.Sprintf("%x", "hunter2")) {
			t.Errorf("secret leaked: %s", got)
		}
	}
	if s.Reveal() != "hunter2" || Secret("").String() != "" {
		t.Errorf("Reveal/empty wrong")
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://acme.service-now.com", "https://acme.service-now.com"},
		{"https://bob:pa55@acme.service-now.com/x?y=1", "https://***@acme.service-now.com/x?y=1"},
		{"http://bob@proxy:3128", "http://***@proxy:3128"},
		{"tls://u:p@a:4222,tls://b:4222", "tls://***@a:4222,tls://b:4222"},
		{"http://bo b:pa%zz@host", "***@host"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(RedactURL(tt.in), "pa") && strings.Contains(tt.in, "pa5") {
			t.Errorf("password kept in %q", RedactURL(tt.in))
		}
	}
}

func TestHasUserinfo(t *testing.T) {
	for in, want := range map[string]bool{
		"https://acme.service-now.com": false, "https://u:p@a": true, "http://u@proxy:1": true,
		"tls://a:1,tls://u:p@b:1": true, "http://bo b:pa%zz@host": true, "": false,
	} {
		if got := HasUserinfo(in); got != want {
			t.Errorf("HasUserinfo(%q) = %v, want %v", in, got, want)
		}
	}
}

func FuzzRedactURL(f *testing.F) {
	f.Add("https://user:topsecret@host/p")
	f.Add("tls://a:topsecret@b:1,nats://c")
	f.Add("//00000#00000000@00")
	f.Fuzz(func(t *testing.T, raw string) {
		out := RedactURL(raw)
		for _, one := range strings.Split(raw, ",") {
			u, err := url.Parse(strings.TrimSpace(one))
			if err != nil || u.User == nil {
				continue
			}
			for _, part := range []string{u.User.Username(), func() string { p, _ := u.User.Password(); return p }()} {
				if len(part) > 3 && strings.Count(raw, part) == 1 && strings.Contains(out, part) {
					t.Fatalf("RedactURL(%q) = %q keeps userinfo %q", raw, out, part)
				}
			}
		}
	})
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
