package bundle

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/agent/status"

	"github.com/sei-edge/servicenow-edge/relay/atomicfile"
)

// logTailBytes is how much of the end of each log file a bundle keeps.
const logTailBytes = 4 << 20

// Input is what the caller knows about the agent. Every field is optional:
// a bundle is made from whatever is available, and errors.txt says what was
// not.
type Input struct {
	// Status is the live snapshot, or the offline one the CLI built.
	Status *status.Snapshot
	// RedactedConfig is the configuration re-marshalled with its secrets
	// masked; Write masks secret-named keys again.
	RedactedConfig []byte
	// Secrets holds every configured secret value: passwords, client
	// secrets, tokens, the content of credential and nkey seed files. None
	// of them appears anywhere in the bundle. Values are matched literally
	// and every one is masked however short, so pass only real secrets.
	Secrets []string
	// ExcludedFields are the excluded field names; their values are masked
	// wherever a log line carries them as "name": value.
	ExcludedFields []string
	// LogFiles are the log files to include, newest first.
	LogFiles []string
	// Figures are further JSON documents, by name: say "buffer" for the
	// buffer's statistics and "stream" for the JetStream stream's.
	Figures map[string]any
	// DataDir is the agent's data directory, for its disk figures.
	DataDir string
	// ServiceState is the system service's state ("running", "stopped",
	// "failed", "not-installed", "unknown"); ServiceFacts any further facts
	// (the init system, say).
	ServiceState string
	ServiceFacts map[string]string
	// Version is the agent's version.
	Version string
	// Now is the bundle's time; zero means time.Now().
	Now time.Time
}

// Write makes the support bundle for in and writes it to out as a zip file
// with mode 0600, replacing out atomically. It returns an error only when
// the bundle cannot be written (or would contain a secret); what cannot be
// collected is listed in the bundle's errors.txt.
func Write(ctx context.Context, out string, in Input) error {
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	b := &builder{sc: newScrubber(in.Secrets, in.ExcludedFields), now: in.Now}
	b.addStatus(in)
	b.addConfig(in)
	if err := b.addLogs(ctx, in); err != nil {
		return err
	}
	b.addFigures(in)
	b.addJSON("system.json", systemFacts(ctx, in))
	if len(b.problems) > 0 {
		b.add("errors.txt", []byte(strings.Join(b.problems, "\n")+"\n"))
	}
	b.addReadme(in)
	return b.write(ctx, out)
}

// file is one entry of the bundle, already scrubbed.
type file struct {
	name string
	data []byte
}

type builder struct {
	sc       *scrubber
	now      time.Time
	files    []file
	problems []string
	masked   map[string]int // masks added per file, for the README
}

func (b *builder) problem(format string, args ...any) {
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

// add scrubs data and queues it as name.
func (b *builder) add(name string, data []byte) {
	clean := b.sc.scrub(data)
	if n := bytes.Count(clean, []byte(Mask)) - bytes.Count(data, []byte(Mask)); n > 0 {
		if b.masked == nil {
			b.masked = map[string]int{}
		}
		b.masked[name] += n
	}
	b.files = append(b.files, file{name, clean})
}

func (b *builder) addJSON(name string, v any) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		b.problem("%s: encode: %v", name, err)
		return
	}
	b.add(name, append(data, '\n'))
}

func (b *builder) addStatus(in Input) {
	if in.Status == nil {
		b.problem("status: no status snapshot was given")
		return
	}
	b.addJSON("status.json", in.Status)
	var txt bytes.Buffer
	if err := status.Render(&txt, in.Status, false); err != nil {
		b.problem("status.txt: %v", err)
		return
	}
	b.add("status.txt", txt.Bytes())
}

func (b *builder) addConfig(in Input) {
	if in.RedactedConfig == nil {
		b.problem("config: no configuration was given")
		return
	}
	// Mask by key as well: a caller's redaction may miss a key.
	b.add("config.yaml", redactConfig(in.RedactedConfig))
}

func (b *builder) addLogs(ctx context.Context, in Input) error {
	seen := map[string]bool{}
	for _, path := range in.LogFiles {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("write support bundle: %w", err)
		}
		tail, err := readTail(path, logTailBytes)
		if err != nil {
			b.problem("log %s: %v", path, err)
			continue
		}
		name := "logs/" + filepath.Base(path)
		for i := 2; seen[name]; i++ {
			name = fmt.Sprintf("logs/%d-%s", i, filepath.Base(path))
		}
		seen[name] = true
		b.add(name, b.sc.scrubFields(tail))
	}
	if len(in.LogFiles) == 0 {
		b.problem("logs: no log file was given (logging to the console or journald?)")
	}
	return nil
}

// readTail returns the last limit bytes of path, starting at a line.
func readTail(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	start := max(0, fi.Size()-limit)
	data, err := io.ReadAll(io.NewSectionReader(f, start, fi.Size()-start))
	if err != nil {
		return nil, err
	}
	if start > 0 {
		// Drop the partial first line: a secret cut in half there would
		// escape the scrubber.
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		} else {
			data = nil
		}
	}
	return data, nil
}

func (b *builder) addFigures(in Input) {
	names := make([]string, 0, len(in.Figures))
	for n := range in.Figures {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		b.addJSON("figures/"+safeName(n)+".json", in.Figures[n])
	}
}

func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
	if s == "" {
		return "_"
	}
	return s
}

func (b *builder) addReadme(in Input) {
	var w strings.Builder
	fmt.Fprintf(&w, "sei-agent support bundle\n\nmade        %s\n", in.Now.UTC().Format(time.RFC3339))
	fmt.Fprintf(&w, "agent       %s\n", orDash(in.Version))
	running := "no (offline snapshot)"
	if in.Status != nil && in.Status.Agent.Running {
		running = "yes (live snapshot)"
	}
	fmt.Fprintf(&w, "running     %s\n\nfiles\n", running)
	for _, f := range b.files {
		fmt.Fprintf(&w, "  %-28s %d bytes\n", f.name, len(f.data))
	}
	w.WriteString("\nredaction\n")
	fmt.Fprintf(&w, "  %d secret values were given; every occurrence (and known encodings) is replaced by %s.\n",
		len(in.Secrets), Mask)
	fmt.Fprintf(&w, "  config.yaml: values of keys naming a secret are replaced by %s.\n", Mask)
	names := make([]string, 0, len(b.masked))
	for n := range b.masked {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&w, "  %s: %d replacements by the secret scrubber\n", n, b.masked[n])
	}
	b.files = append([]file{{"README.txt", b.sc.scrub([]byte(w.String()))}}, b.files...)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// write zips the files to a temporary file beside out and renames it into
// place, after checking once more that no file holds a secret.
func (b *builder) write(ctx context.Context, out string) error {
	for _, f := range b.files {
		if v := b.sc.leaked(f.data); v != "" {
			return fmt.Errorf("write support bundle: %s still holds a secret after scrubbing", f.name)
		}
	}
	err := atomicfile.WriteWith(out, 0o600, func(w io.Writer) error { return b.zip(ctx, w) })
	if err != nil {
		return fmt.Errorf("write support bundle: %w", err)
	}
	return nil
}

func (b *builder) zip(ctx context.Context, w io.Writer) error {
	zw := zip.NewWriter(w)
	for _, f := range b.files {
		if err := ctx.Err(); err != nil {
			return err
		}
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: b.now})
		if err != nil {
			return fmt.Errorf("add %s: %w", f.name, err)
		}
		if _, err := fw.Write(f.data); err != nil {
			return fmt.Errorf("add %s: %w", f.name, err)
		}
	}
	return zw.Close()
}
