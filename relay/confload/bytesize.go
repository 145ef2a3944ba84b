package confload

import (
	"errors"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// ByteSize is a size in bytes written as a plain number or with a unit:
// 512MiB, 8GiB, 1GB, 64KiB, 100MB.
type ByteSize int64

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

var errByteSize = errors.New("must be a size: a number of bytes with an optional unit (KiB, MiB, GiB, TiB, KB, MB, GB, TB)")

// ParseByteSize parses "8GiB", "100MB", "1024" and the like. The error does
// not repeat the input.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, errByteSize
	}
	return ByteSize(n * mult), nil
}

// UnmarshalYAML accepts a number or a string with a unit; the error
// carries the node's position.
func (b *ByteSize) UnmarshalYAML(node ast.Node) error {
	s, ok := scalar(node)
	if !ok {
		return positioned(node, errByteSize)
	}
	n, err := ParseByteSize(s)
	if err != nil {
		return positioned(node, err)
	}
	*b = n
	return nil
}

// UnmarshalText parses a size.
func (b *ByteSize) UnmarshalText(t []byte) error {
	n, err := ParseByteSize(string(t))
	if err != nil {
		return err
	}
	*b = n
	return nil
}

// MarshalText writes the size as String does.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// String formats the size with the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range []struct {
		s string
		m int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if b != 0 && int64(b)%u.m == 0 {
			return strconv.FormatInt(int64(b)/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(int64(b), 10)
}
