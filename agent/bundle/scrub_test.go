package bundle

import (
	"strings"
	"testing"
)

func TestRedactConfig(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "password: hunter22\n", "password: ***\n"},
		{"quoted", `  client_secret: "x y z"`, `  client_secret: ***`},
		{"quoted key", `"api_key": abc`, `"api_key": ***`},
		{"env ref kept", "password: ${SN_PASSWORD}", "password: ${SN_PASSWORD}"},
		{"file path kept", "password_file: /etc/pw", "password_file: /etc/pw"},
		{"expiry kept", "token_expiry: 2026-01-01", "token_expiry: 2026-01-01"},
		{"other keys kept", "username: admin\nurl: https://x", "username: admin\nurl: https://x"},
		{"upper case", "Password: x", "Password: ***"},
		{"list item", "- token: abc", "- token: ***"},
		{
			"block scalar",
			"relay:\n  seed: |\n    SUAAAA\n    more\n  tenant: acme\n",
			"relay:\n  seed: ***\n    ***\n    ***\n  tenant: acme\n",
		},
		{
			"nested map",
			"credentials:\n  user: a\n  pass: b\nnext: c",
			"credentials:\n  ***\n  ***\nnext: c",
		},
		{"empty value then sibling", "token:\nnext: c", "token:\nnext: c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(redactConfig([]byte(tt.in))); got != tt.want {
				t.Errorf("redactConfig(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	sc := newScrubber([]string{"abcabc", "s3cr3t-value", "", "**", "line-one-secret\nline-two-secret\nx"}, []string{"description"})
	tests := []struct {
		name, in, want string
	}{
		{"raw", "x s3cr3t-value y", "x *** y"},
		{"overlapping", "abcabcabc", "***abc"},
		{"repeated", "abcabcabcabc", "******"},
		{"json escaped", `"line-one-secret\nline-two-secret\nx"`, `"***"`},
		{"one line of a multi-line secret", "got line-two-secret", "got ***"},
		{"url escaped", "p=line-one-secret%0Aline-two-secret%0Ax", "p=***"},
		{"all-star secret ignored", "a ** b", "a ** b"},
		{"nkey seed", "seed SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GJ5FGHK7DRQ6H4LI end", "seed *** end"},
		{"public nkey kept", "user UAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GJ5FGHK7DRQ6H4L", "user UAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GJ5FGHK7DRQ6H4L"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(sc.scrub([]byte(tt.in))); got != tt.want {
				t.Errorf("scrub(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	fields := `{"description":"a \"quoted\" text","n":1,"x":{"description":42}}`
	if got, want := string(sc.scrubFields([]byte(fields))), `{"description":"***","n":1,"x":{"description":"***"}}`; got != want {
		t.Errorf("scrubFields = %q, want %q", got, want)
	}
}

// FuzzScrub: whatever a log holds, no secret survives the scrubber.
func FuzzScrub(f *testing.F) {
	f.Add("token abcabc here", "abc")
	f.Add("*a*a*aaaa", "*a")
	f.Add(`"p\"w"`, `p"w`)
	f.Fuzz(func(t *testing.T, data, secret string) {
		if len(data) > 4096 {
			return
		}
		sc := newScrubber([]string{secret}, nil)
		out := string(sc.scrub([]byte(data)))
		if strings.Trim(secret, "*") != "" && strings.Contains(out, secret) {
			t.Fatalf("scrub(%q) with secret %q = %q", data, secret, out)
		}
		if v := sc.leaked([]byte(out)); v != "" {
			t.Fatalf("scrub(%q) leaves variant %q", data, v)
		}
	})
}
