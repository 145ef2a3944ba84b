package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Headers of a part message (see the package documentation): a batch body
// too large for one message travels as a part set.
const (
	HeaderPart    = "Sei-Part"     // "i/n": this message is part i of n (1-based)
	HeaderPartSet = "Sei-Part-Set" // the part set's id: PartSetID of the whole body
)

// MaxPartSetBytes bounds the reassembled (compressed) body of a part set,
// and MaxParts the parts of one set, so a relay never keeps more than that
// for one set however hostile the sender.
const (
	MaxPartSetBytes = 64 << 20
	MaxParts        = MaxPartSetBytes / MaxPayload
)

var partSetRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidPartSet reports whether s can be a part set id: 64 lower-case hex
// digits.
func ValidPartSet(s string) bool { return partSetRE.MatchString(s) }

// PartSetID is the id of a part set whose body is body: the hex SHA-256 of
// the body, so the same body always gets the same id (an agent that reads a
// record again sends the same set) and the relay can check the body it
// reassembled.
func PartSetID(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// Part names one part of a part set.
type Part struct {
	Set   string // PartSetID of the whole body
	Index int    // 1..Count
	Count int    // 2..MaxParts
}

// Split cuts a batch body that is larger than MaxPayload into parts of at
// most MaxPayload bytes, in order; the body must be at most MaxPartSetBytes.
func Split(body []byte) (set string, parts [][]byte, err error) {
	if len(body) > MaxPartSetBytes {
		return "", nil, fmt.Errorf("split batch: %w: %d bytes, at most %d in parts", ErrTooLarge, len(body), MaxPartSetBytes)
	}
	for rest := body; len(rest) > 0; {
		n := min(len(rest), MaxPayload)
		parts = append(parts, rest[:n:n])
		rest = rest[n:]
	}
	if len(parts) < 2 {
		return "", nil, fmt.Errorf("split batch: %d bytes fit one message", len(body))
	}
	return PartSetID(body), parts, nil
}

// Join reassembles the parts of set, in index order, and checks the body
// against the set's id.
func Join(set string, parts [][]byte) ([]byte, error) {
	body := bytes.Join(parts, nil)
	if len(body) > MaxPartSetBytes {
		return nil, fmt.Errorf("join part set %s: %w: %d bytes, at most %d", set, ErrTooLarge, len(body), MaxPartSetBytes)
	}
	if got := PartSetID(body); got != set {
		return nil, fmt.Errorf("join part set %s: the parts' SHA-256 is %s", set, got)
	}
	return body, nil
}

// ParsePart reads a part message's headers; ok is false when the message
// is not a part (no Sei-Part header).
func ParsePart(part, set string) (p Part, ok bool, err error) {
	if part == "" && set == "" {
		return Part{}, false, nil
	}
	i, n, found := strings.Cut(part, "/")
	p.Index, err = strconv.Atoi(i)
	if err == nil {
		p.Count, err = strconv.Atoi(n)
	}
	p.Set = set
	switch {
	case !found || err != nil:
		return p, true, fmt.Errorf("header %s: want i/n (got %q)", HeaderPart, part)
	case p.Count < 2 || p.Count > MaxParts || p.Index < 1 || p.Index > p.Count:
		return p, true, fmt.Errorf("header %s: want i/n with 1 <= i <= n and 2 <= n <= %d (got %q)", HeaderPart, MaxParts, part)
	case !ValidPartSet(set):
		return p, true, fmt.Errorf("header %s: want 64 hex digits (got %q)", HeaderPartSet, set)
	}
	return p, true, nil
}

// Header returns the value of the Sei-Part header.
func (p Part) Header() string { return strconv.Itoa(p.Index) + "/" + strconv.Itoa(p.Count) }

// partLabelSep separates a table from its part in a buffered batch's label;
// it cannot occur in a table name.
const partLabelSep = "#"

// PartLabel is the agent's buffer label of a part of a batch of table: the
// forwarder reads the table and part back with ParseLabel.
func PartLabel(table string, p Part) string {
	return table + partLabelSep + p.Set + partLabelSep + p.Header()
}

// ParseLabel splits an agent's buffer label into its table and, for a part,
// the part; ok is false for a whole batch.
func ParseLabel(label string) (table string, p Part, ok bool, err error) {
	table, rest, found := strings.Cut(label, partLabelSep)
	if !found {
		return label, Part{}, false, nil
	}
	set, part, _ := strings.Cut(rest, partLabelSep)
	p, _, err = ParsePart(part, set)
	if err != nil {
		return table, p, true, fmt.Errorf("batch label %q: %w", label, err)
	}
	return table, p, true, nil
}
