package token

import "strings"

// NameOf names the tenant token token for logs (the api package's
// TokenNamer): "token <id> (<name>) of <tenant>", never the token itself;
// "unknown token" when it is not in the file.
func (f *File) NameOf(token string) string {
	t, ok, err := f.Lookup(token)
	if err != nil || !ok {
		return "unknown token"
	}
	if t.Name == "" {
		return "token " + t.ID + " of " + t.Tenant
	}
	return "token " + t.ID + " (" + printable(t.Name) + ") of " + t.Tenant
}

// printable replaces control characters, so a name cannot break a log line
// or a message header.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
