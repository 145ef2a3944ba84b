package bundle

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Mask replaces every redacted value.
const Mask = "***"

// minLineSecret is the shortest line of a multi-line secret scrubbed on its
// own; shorter lines ("-----", "") would mangle unrelated text.
const minLineSecret = 8

var (
	// seedRE matches NATS nkey seeds (user, account, operator, server,
	// cluster, curve keys): 'S', the key type, base32.
	seedRE = regexp.MustCompile(`\bS[UAONCPX][A-Z2-7]{50,}\b`)
	// seedBlockRE matches the seed block of a NATS credentials file.
	seedBlockRE = regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*SEED-----.*?------END [A-Z ]*SEED------`)
)

// scrubber removes known secret values and secret-shaped text.
type scrubber struct {
	variants []string // longest first
	replacer *strings.Replacer
	fieldRE  *regexp.Regexp // "<excluded field>": value; nil without fields
}

func newScrubber(secrets, excludedFields []string) *scrubber {
	var vs []string
	add := func(v string) {
		if strings.Trim(v, "*") != "" && !slices.Contains(vs, v) {
			vs = append(vs, v)
		}
	}
	for _, s := range secrets {
		for _, v := range []string{s, strings.TrimSpace(s)} {
			add(v)
			add(jsonEscaped(v))
			add(url.QueryEscape(v))
			add(url.PathEscape(v))
		}
		for _, line := range strings.Split(s, "\n") {
			if line = strings.TrimSpace(line); len(line) >= minLineSecret {
				add(line)
				add(jsonEscaped(line))
			}
		}
	}
	slices.SortFunc(vs, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(vs))
	for _, v := range vs {
		pairs = append(pairs, v, Mask)
	}
	sc := &scrubber{variants: vs, replacer: strings.NewReplacer(pairs...)}
	var names []string
	for _, f := range excludedFields {
		if f = strings.TrimSpace(f); f != "" {
			names = append(names, regexp.QuoteMeta(f))
		}
	}
	if len(names) > 0 {
		sc.fieldRE = regexp.MustCompile(`("(?:` + strings.Join(names, "|") + `)"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}\]\s]+)`)
	}
	return sc
}

func jsonEscaped(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// maxPasses bounds the scrubber's passes; the leak check catches the
// pathological input that would need more.
const maxPasses = 1000

// scrub returns b with every secret replaced. It repeats while a secret is
// left, so overlapping occurrences cannot leave one behind; each pass
// removes at least one non-'*' byte (a variant is never all '*'), so it
// ends.
func (sc *scrubber) scrub(b []byte) []byte {
	s := string(b)
	s = seedBlockRE.ReplaceAllString(s, Mask)
	s = seedRE.ReplaceAllString(s, Mask)
	for i := 0; i < maxPasses && sc.leaked([]byte(s)) != ""; i++ {
		s = sc.replacer.Replace(s)
	}
	return []byte(s)
}

// scrubFields replaces the values of excluded fields written as JSON
// pairs. Log lines must never hold them; this is the second line of
// defence.
func (sc *scrubber) scrubFields(b []byte) []byte {
	if sc.fieldRE == nil {
		return b
	}
	return sc.fieldRE.ReplaceAll(b, []byte(`${1}"`+Mask+`"`))
}

// leaked returns the first secret variant still in b, or "".
func (sc *scrubber) leaked(b []byte) string {
	for _, v := range sc.variants {
		if bytes.Contains(b, []byte(v)) {
			return v
		}
	}
	return ""
}

// secretKeys are the key suffixes whose values redactConfig masks.
var secretKeys = []string{"password", "secret", "token", "seed", "private_key", "privatekey", "credentials", "apikey", "api_key"}

var keyLineRE = regexp.MustCompile(`^(\s*(?:-\s+)?)("?)([A-Za-z0-9_.-]+)("?\s*:)(\s*)(.*)$`)

// redactConfig masks the value of every YAML key that names a secret,
// including block scalars (key: |) on the lines below it. A value that is
// only a ${ENV} reference is kept.
func redactConfig(src []byte) []byte {
	lines := strings.Split(string(src), "\n")
	blockIndent := -1 // indent of the key whose block scalar is being masked
	for i, line := range lines {
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		if blockIndent >= 0 {
			if strings.TrimSpace(line) == "" || indent > blockIndent {
				if strings.TrimSpace(line) != "" {
					lines[i] = line[:indent] + Mask
				}
				continue
			}
			blockIndent = -1
		}
		m := keyLineRE.FindStringSubmatch(line)
		if m == nil || !secretKey(m[3]) {
			continue
		}
		value := strings.TrimSpace(m[6])
		switch {
		case value == "" || strings.HasPrefix(value, "#"):
			// A nested map or a value on the next lines: mask those.
			blockIndent = indent
		case strings.HasPrefix(value, "|") || strings.HasPrefix(value, ">"):
			blockIndent = indent
			lines[i] = m[1] + m[2] + m[3] + m[4] + m[5] + Mask
		case envRef(value):
		default:
			lines[i] = m[1] + m[2] + m[3] + m[4] + m[5] + Mask
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

func secretKey(key string) bool {
	k := strings.ToLower(key)
	if strings.HasSuffix(k, "_file") || strings.HasSuffix(k, "_expiry") {
		return false // a path or a date, not the secret itself
	}
	for _, s := range secretKeys {
		if strings.HasSuffix(k, s) {
			return true
		}
	}
	return false
}

var envRefRE = regexp.MustCompile(`^["']?\$\{[A-Za-z_][A-Za-z0-9_]*\}["']?$`)

func envRef(v string) bool { return envRefRE.MatchString(v) }
