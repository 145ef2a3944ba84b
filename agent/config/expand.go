package config

import (
	"fmt"
	"os"
	"reflect"
	"strings"
)

// expandEnv replaces ${VAR} in every string value of v (a pointer to a
// struct), after YAML parsing so comments and keys are left alone. "$$" is a
// literal "$". An unset variable is a problem naming the key and the
// variable, so a typo does not become an empty password.
func expandEnv(v any) []string {
	var problems []string
	walkStrings(reflect.ValueOf(v).Elem(), "", func(key string, s reflect.Value) {
		var missing []string
		out := os.Expand(s.String(), func(name string) string {
			if name == "$" {
				return "$"
			}
			val, ok := os.LookupEnv(name)
			if !ok {
				missing = append(missing, name)
			}
			return val
		})
		for _, m := range missing {
			problems = append(problems, fmt.Sprintf("%s: environment variable %s is not set", key, m))
		}
		s.SetString(out)
	})
	return problems
}

// walkStrings calls fn for every settable string in v with its YAML key path.
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
			walkStrings(v.Field(i), join(key, name), fn)
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
			walkStrings(cp, join(key, fmt.Sprint(k.Interface())), fn)
			v.SetMapIndex(k, cp)
		}
	}
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}
