package main

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/sei-edge/servicenow-edge"

// testSupport is the test helper package every package's tests may use
// (an in-process NATS server, CheckFor), and nothing but tests.
const testSupport = "relay/natstest"

// shared are the small packages both programs import, each with one job;
// like relay/wire they import nothing of agent/ and nothing of relay/ but
// each other.
var shared = []string{"relay/wire", "relay/secret", "relay/confload", "relay/atomicfile", "relay/logsetup", "relay/interrupt", "relay/command", "relay/pageout"}

// ruleViolations checks imports (package path relative to the module ->
// module-internal imports, relative too) against the dependency rule:
// agent -> buffer, relay/wire and the shared packages; relay -> relay/wire
// and shared (and its own packages); buffer imports nothing of agent, and
// of relay only the shared packages; the shared packages import only each other; nothing outside agent
// imports agent.
func ruleViolations(imports map[string][]string) []string {
	var out []string
	for pkg, deps := range imports {
		for _, dep := range deps {
			if !allowed(pkg, dep) {
				out = append(out, pkg+" imports "+dep)
			}
		}
	}
	sort.Strings(out)
	return out
}

func allowed(pkg, dep string) bool {
	isShared := func(p string) bool { return slices.Contains(shared, p) }
	under := func(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	switch {
	case dep == testSupport:
		return true // test files only: TestDependencyRule checks that
	case isShared(pkg):
		return isShared(dep)
	case under(dep, "agent"):
		return under(pkg, "agent")
	case under(pkg, "buffer"):
		return under(dep, "buffer") || isShared(dep)
	case under(pkg, "agent"):
		return under(dep, "buffer") || isShared(dep)
	case under(pkg, "relay"):
		return under(dep, "relay")
	}
	return true
}

// moduleImports lists every package's module-internal imports, tests'
// imports included, for ctx's platform.
func moduleImports(t *testing.T, ctx build.Context, root string, withTests bool) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		p, err := ctx.ImportDir(path, 0)
		if err != nil {
			return nil // no Go files for this platform
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		imps := p.Imports
		if withTests {
			imps = slices.Concat(p.Imports, p.TestImports, p.XTestImports)
		}
		for _, imp := range imps {
			if dep, ok := strings.CutPrefix(imp, module+"/"); ok && !slices.Contains(out[rel], dep) {
				out[rel] = append(out[rel], dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDependencyRule fails when an import breaks the dependency rule, on
// Linux and on Windows.
func TestDependencyRule(t *testing.T) {
	for _, goos := range []string{"linux", "windows"} {
		ctx := build.Default
		ctx.GOOS = goos
		imports := moduleImports(t, ctx, "..", true)
		if len(imports["agent"]) == 0 || len(imports["relay"]) == 0 {
			t.Fatalf("%s: found no imports of agent or relay: %v", goos, imports)
		}
		for _, v := range ruleViolations(imports) {
			t.Errorf("%s: %s", goos, v)
		}
		for pkg, deps := range moduleImports(t, ctx, "..", false) {
			if slices.Contains(deps, testSupport) {
				t.Errorf("%s: %s imports %s outside its tests", goos, pkg, testSupport)
			}
		}
	}
}

// TestDependencyRuleCatches: the checker itself refuses each kind of
// violation.
func TestDependencyRuleCatches(t *testing.T) {
	bad := map[string][]string{
		"relay/ingest":   {"agent/status"},
		"agent/poll":     {"relay/store"},
		"buffer":         {"relay/store", "relay/pageout"}, // the second allowed
		"relay/secret":   {"relay/config"},
		"relay/wire":     {"agent/config"},
		"relay":          {"buffer"},
		"agent/forward":  {"relay/wire", "relay/secret", "buffer"}, // allowed
		"relay/confload": {"relay/secret"},                         // allowed
	}
	got := ruleViolations(bad)
	want := []string{"agent/poll imports relay/store", "buffer imports relay/store", "relay imports buffer",
		"relay/ingest imports agent/status", "relay/secret imports relay/config", "relay/wire imports agent/config"}
	if !slices.Equal(got, want) {
		t.Errorf("violations\n got %q\nwant %q", got, want)
	}
}
