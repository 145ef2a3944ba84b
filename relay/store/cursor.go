package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Cursor is the position List resumes after: the key of the last record a
// page returned. Because it names a key, not an offset, a page boundary stays
// put while records are inserted, updated or deleted around it.
type Cursor struct {
	Tenant      string
	Integration string
	Table       string
	SysID       string
}

// cursorPrefix versions the opaque form, so a later encoding can coexist.
const cursorPrefix = "c1."

// maxCursorLen bounds what DecodeCursor reads: four names of at most a few
// hundred bytes each, base64-encoded.
const maxCursorLen = 2048

// EncodeCursor returns the opaque form of c that List hands out. Both stores
// use it, so a cursor stays valid when a deployment switches store kind.
func EncodeCursor(c Cursor) string {
	b, _ := json.Marshal([4]string{c.Tenant, c.Integration, c.Table, c.SysID}) // cannot fail for strings
	return cursorPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a cursor made by EncodeCursor. Anything else, which
// includes a cursor whose parts could not be record keys, yields an error
// wrapping ErrBadCursor. It reads outside input (an HTTP query parameter).
func DecodeCursor(s string) (Cursor, error) {
	bad := func(why string) (Cursor, error) {
		return Cursor{}, fmt.Errorf("decode cursor: %s: %w", why, ErrBadCursor)
	}
	if len(s) > maxCursorLen {
		return bad("too long")
	}
	rest, ok := strings.CutPrefix(s, cursorPrefix)
	if !ok {
		return bad("unknown format")
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return bad("not base64")
	}
	var parts []string
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) != 4 {
		return bad("malformed")
	}
	c := Cursor{Tenant: parts[0], Integration: parts[1], Table: parts[2], SysID: parts[3]}
	if checkKey(c.Tenant, c.Integration, c.Table, c.SysID) != nil {
		return bad("not a record key")
	}
	return c, nil
}
