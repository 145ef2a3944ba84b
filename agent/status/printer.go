package status

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// printer writes lines clipped to Width, colouring whole segments.
type printer struct {
	w       io.Writer
	colour  bool
	now     time.Time
	started bool
	// section follows every title: the instance the sections are of
	// when the agent has several.
	section string
	err     error
}

type segment struct{ text, colour string }

func (p *printer) segments(segs ...segment) {
	if p.err != nil {
		return
	}
	var b strings.Builder
	room := Width
	for i, s := range segs {
		t := clip(s.text, room)
		if i == len(segs)-1 {
			t = strings.TrimRight(t, " ")
		}
		room -= utf8.RuneCountInString(t)
		if p.colour && s.colour != "" && t != "" {
			t = s.colour + t + ansiReset
		}
		b.WriteString(t)
	}
	b.WriteByte('\n')
	_, p.err = io.WriteString(p.w, b.String())
}

func (p *printer) plain(text, colour string) { p.segments(segment{text, colour}) }

func (p *printer) blank() {
	if p.err == nil {
		_, p.err = io.WriteString(p.w, "\n")
	}
}

func (p *printer) title(name string) {
	if p.started {
		p.blank()
	}
	p.started = true
	p.plain(name+p.section, ansiBold)
}

// field writes "  label   value", skipping empty values.
func (p *printer) field(label, value string) { p.fieldC(label, value, "") }

func (p *printer) fieldC(label, value, colour string) {
	if value == "" {
		return
	}
	p.segments(segment{pad(label), ""}, segment{value, colour})
}

// maxWrapped bounds the lines one wrapped value takes; --json has it all.
const maxWrapped = 4

// wrapped writes prefix then text, wrapping at word boundaries with the
// continuation lines indented to the prefix's width.
func (p *printer) wrapped(prefix, text, colour string) {
	indent := utf8.RuneCountInString(prefix)
	if indent > Width/2 {
		indent = 4
	}
	lines := wrap(text, Width-indent)
	if len(lines) > maxWrapped {
		lines = lines[:maxWrapped]
		lines[maxWrapped-1] = clip(lines[maxWrapped-1]+" …", Width-indent)
	}
	for i, l := range lines {
		lead := prefix
		if i > 0 {
			lead = strings.Repeat(" ", indent)
		}
		p.segments(segment{lead, ""}, segment{l, colour})
	}
}

// when formats an absolute time with its distance from now.
func (p *printer) when(t time.Time) string { return clock(t) + " (" + p.rel(t) + ")" }

// rel formats t relative to now: "47m ago", "in 3m".
func (p *printer) rel(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := p.now.Sub(t)
	switch {
	case d > -time.Second && d < time.Second:
		return "now"
	case d > 0:
		return Human(d) + " ago"
	}
	return "in " + Human(-d)
}

func pad(label string) string { return fmt.Sprintf("  %-12s", label) }

// wrap splits text into lines of at most width runes, breaking at spaces
// and hard-breaking words longer than a line.
func wrap(text string, width int) []string {
	text = strings.Join(strings.Fields(text), " ")
	var lines []string
	for utf8.RuneCountInString(text) > width {
		r := []rune(text)
		cut := strings.LastIndex(string(r[:width+1]), " ")
		if cut <= 0 {
			lines = append(lines, string(r[:width]))
			text = string(r[width:])
			continue
		}
		lines = append(lines, text[:cut])
		text = text[cut+1:]
	}
	return append(lines, text)
}

// clip shortens s to n runes, marking a cut with "…", and flattens control
// characters so a hostile value cannot move the cursor.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func join(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortResult(r string) string {
	if r == ResultAuthError {
		return "AUTH"
	}
	return orDash(r)
}

func sumErrors(m map[int]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// countIn formats n in at most width runes: with thousands separators when
// they fit, else abbreviated ("123.5G").
func countIn(n int64, width int) string {
	if s := count(n); len(s) <= width {
		return s
	}
	f := float64(n)
	for _, unit := range []string{"k", "M", "G", "T", "P", "E"} {
		f /= 1000
		if f >= 1000 || f <= -1000 {
			continue
		}
		for _, s := range []string{strconv.FormatFloat(f, 'f', 1, 64) + unit, strconv.FormatFloat(f, 'f', 0, 64) + unit} {
			if len(s) <= width {
				return s
			}
		}
	}
	return clip(count(n), width)
}

// count formats n with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
