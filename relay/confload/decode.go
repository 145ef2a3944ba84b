package confload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Decode decodes raw strictly over dst (a pointer to a struct that holds
// the defaults): unknown and duplicate keys are errors. An empty document
// leaves dst as it is. The error is an *Error with one problem that names
// the key path, line and column and never a value.
func Decode(raw []byte, dst any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	file, err := parser.ParseBytes(raw, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return &Error{Problems: []string{describe(err, nil)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw), yaml.Strict())
	if err := dec.Decode(dst); err != nil && !errors.Is(err, io.EOF) {
		return &Error{Problems: []string{describe(err, keyPositions(file))}}
	}
	return nil
}

// describe turns a YAML error into "key.path: what (line L, column C)"
// without the source excerpt or any value the library's message quotes.
func describe(err error, keys []keyPos) string {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil {
		return "yaml: " + scrub(err.Error())
	}
	pos := ye.GetToken().Position
	key := keyAt(keys, pos.Line, pos.Column)
	msg := scrub(ye.GetMessage())
	var (
		overflow *yaml.OverflowError
		mismatch *yaml.TypeError
	)
	switch {
	case errors.As(err, &overflow):
		msg = "number out of range"
	case errors.As(err, &mismatch):
		msg = fmt.Sprintf("wrong type: want %s", mismatch.DstType)
	}
	where := fmt.Sprintf("(line %d, column %d)", pos.Line, pos.Column)
	if key == "" {
		return "yaml: " + msg + " " + where
	}
	return key + ": " + msg + " " + where
}

var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'[^']*'`)

// scrub masks anything a library message quotes: it may be a value.
// Unknown-field messages quote the key, which is not a secret, so the
// caller's key path carries it instead.
func scrub(msg string) string {
	return quoted.ReplaceAllStringFunc(msg, func(q string) string {
		if len(q) <= 2 || !isKeyLike(q[1:len(q)-1]) {
			return `"…"`
		}
		return q
	})
}

var keyLike = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-\[\]]{0,63}$`)

func isKeyLike(s string) bool { return keyLike.MatchString(s) }

// keyPos is where a key or its value starts, and the key's path.
type keyPos struct {
	line, col int
	path      string
}

// keyPositions lists every mapping key and value start in file with its
// key path, sorted by position.
func keyPositions(file *ast.File) []keyPos {
	var out []keyPos
	var walk func(n ast.Node, path string)
	walk = func(n ast.Node, path string) {
		switch v := n.(type) {
		case *ast.DocumentNode:
			walk(v.Body, path)
		case *ast.MappingNode:
			for _, mv := range v.Values {
				walk(mv, path)
			}
		case *ast.MappingValueNode:
			child := joinKey(path, v.Key.GetToken().Value)
			out = append(out, at(v.Key.GetToken(), child))
			if v.Value != nil {
				out = append(out, at(v.Value.GetToken(), child))
				walk(v.Value, child)
			}
		case *ast.SequenceNode:
			for i, e := range v.Values {
				p := path + "[" + strconv.Itoa(i) + "]"
				out = append(out, at(e.GetToken(), p))
				walk(e, p)
			}
		case *ast.TagNode:
			walk(v.Value, path)
		case *ast.AnchorNode:
			walk(v.Value, path)
		}
	}
	for _, d := range file.Docs {
		walk(d, "")
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].line != out[j].line {
			return out[i].line < out[j].line
		}
		return out[i].col < out[j].col
	})
	return out
}

func at(tk *token.Token, path string) keyPos {
	if tk == nil || tk.Position == nil {
		return keyPos{path: path}
	}
	return keyPos{line: tk.Position.Line, col: tk.Position.Column, path: path}
}

// keyAt is the path of the last key or value that starts at or before
// line:col.
func keyAt(keys []keyPos, line, col int) string {
	best := ""
	for _, k := range keys {
		if k.line > line || (k.line == line && k.col > col) {
			break
		}
		best = k.path
	}
	return best
}

func joinKey(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}
