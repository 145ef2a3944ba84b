package confload

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// Duration is a time.Duration written as Go writes it ("90s", "1h30m") or
// in whole days ("90d").
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String writes the duration in Go's form.
func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration is time.ParseDuration plus whole days ("90d"). The error
// does not repeat the input.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 106751 {
			return 0, errDuration
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, errDuration
	}
	return Duration(v), nil
}

var errDuration = errors.New("must be a duration such as 90s, 15m, 1h or 90d")

// UnmarshalText parses a duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalYAML parses a duration; the error carries the node's position.
func (d *Duration) UnmarshalYAML(node ast.Node) error {
	s, ok := scalar(node)
	if !ok {
		return positioned(node, errDuration)
	}
	v, err := ParseDuration(s)
	if err != nil {
		return positioned(node, err)
	}
	*d = v
	return nil
}

// MarshalText writes the duration in Go's form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// scalar is the text of a scalar node.
func scalar(node ast.Node) (string, bool) {
	switch n := node.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.LiteralNode:
		return node.GetToken().Value, true
	}
	return "", false
}

// positioned gives err the node's token, so Decode reports its key path,
// line and column.
func positioned(node ast.Node, err error) error {
	return &yaml.SyntaxError{Message: err.Error(), Token: node.GetToken()}
}
