package confload

import (
	"fmt"
	"os"
	"reflect"
	"strings"
)

// Expand replaces ${NAME} with the environment variable NAME in every
// string value of v (a pointer to a decoded struct), secrets included. It
// runs after decoding, so comments and keys are never expanded. Only the
// braced form expands: a bare $word stays as written (a password may hold
// one), and $$ is a literal $. Each unset variable is a problem naming the
// key and the variable, so a typo does not become an empty password.
func Expand(v any) Problems {
	var p Problems
	walkStrings(reflect.ValueOf(v).Elem(), "", func(key string, s reflect.Value) {
		out, missing := ExpandString(s.String(), os.LookupEnv)
		for _, m := range missing {
			p.Add(key, "environment variable %s is not set", m)
		}
		s.SetString(out)
	})
	return p
}

// ExpandString expands s with lookup and returns the names it could not
// find.
func ExpandString(s string, lookup func(string) (string, bool)) (string, []string) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	var missing []string
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch {
		case s[i+1] == '$':
			b.WriteByte('$')
			i++
		case s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			name := ""
			if end >= 0 {
				name = s[i+2 : i+2+end]
			}
			if !validName(name) {
				b.WriteByte(c)
				continue
			}
			val, ok := lookup(name)
			if !ok {
				missing = append(missing, name)
			}
			b.WriteString(val)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), missing
}

// validName is an environment variable name: [A-Za-z_][A-Za-z0-9_]*.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// walkStrings calls fn for every settable string in v with its YAML key
// path.
func walkStrings(v reflect.Value, key string, fn func(key string, s reflect.Value)) {
	switch v.Kind() {
	case reflect.String:
		fn(key, v)
	case reflect.Pointer:
		if !v.IsNil() {
			walkStrings(v.Elem(), key, fn)
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !t.Field(i).IsExported() {
				continue
			}
			walkStrings(v.Field(i), joinKey(key, name), fn)
		}
	case reflect.Slice:
		for i := range v.Len() {
			walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", key, i), fn)
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			// Map values are not addressable: expand a copy and store it back.
			cp := reflect.New(v.Type().Elem()).Elem()
			cp.Set(v.MapIndex(k))
			walkStrings(cp, joinKey(key, fmt.Sprint(k.Interface())), fn)
			v.SetMapIndex(k, cp)
		}
	}
}
