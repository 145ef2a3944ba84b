package relayimage

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const relayYAML = "../../relay/relay.yaml"

// TestBuildImage builds an image from a stand-in binary and checks what
// the release's image must have.
func TestBuildImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "sei-relay")
	if err := os.WriteFile(bin, []byte("#!binary\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := Build(Spec{Binary: bin, Arch: "arm64", Config: relayYAML, CACerts: relayYAML, Version: "9.9.9", Created: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	files := checkImage(t, img, "arm64", "9.9.9")
	if got := string(files[strings.TrimPrefix(BinaryPath, "/")].content); got != "#!binary\n" {
		t.Errorf("binary content %q", got)
	}
	// The same inputs give the same digest (SOURCE_DATE_EPOCH builds).
	again, err := Build(Spec{Binary: bin, Arch: "arm64", Config: relayYAML, CACerts: relayYAML, Version: "9.9.9", Created: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds of the same inputs: digests %s and %s", d1, d2)
	}
}

func TestBuildRejectsBadSpec(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{Binary: "x", Arch: "386", Config: relayYAML, Version: "1"}, "arch"},
		{Spec{Binary: "x", Arch: "amd64", Config: relayYAML}, "version"},
		{Spec{Binary: "/nonexistent/sei-relay", Arch: "amd64", Config: relayYAML, Version: "1"}, "/nonexistent/sei-relay"},
	} {
		if _, err := Build(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Build(%+v) = %v, want an error naming %q", tc.spec, err, tc.want)
		}
	}
}

// TestReleaseImage checks the image tarball scripts/release.sh wrote
// (SEI_RELAY_IMAGE, with SEI_VERSION and SEI_IMAGE_ARCH): its config, its
// files, and, on a matching machine, that its binary runs and prints the
// version. scripts/package-test.sh sets these.
func TestReleaseImage(t *testing.T) {
	path := os.Getenv("SEI_RELAY_IMAGE")
	if path == "" {
		t.Skip("SEI_RELAY_IMAGE not set: scripts/package-test.sh runs this on dist/")
	}
	version, arch := os.Getenv("SEI_VERSION"), os.Getenv("SEI_IMAGE_ARCH")
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	files := checkImage(t, img, arch, version)
	if arch != runtime.GOARCH {
		return
	}
	bin := filepath.Join(t.TempDir(), "sei-relay")
	if err := os.WriteFile(bin, files[strings.TrimPrefix(BinaryPath, "/")].content, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "sei-relay "+version {
		t.Errorf("the image's sei-relay version: %q, %v; want %q", out, err, "sei-relay "+version)
	}
	// Static: runs on an empty base, so it must not name an interpreter.
	if raw := files[strings.TrimPrefix(BinaryPath, "/")].content; bytes.Contains(raw[:min(len(raw), 4096)], []byte("/lib64/ld-linux")) {
		t.Error("the image's sei-relay is dynamically linked")
	}
}

type entry struct {
	hdr     *tar.Header
	content []byte
}

// checkImage checks the config and the flattened files of img and returns
// the files by name (no leading slash).
func checkImage(t *testing.T, img v1.Image, arch, version string) map[string]entry {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != arch {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, arch)
	}
	if !slices.Equal(c.Entrypoint, Entrypoint) || !slices.Equal(c.Cmd, Cmd) {
		t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
	}
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root)", c.User)
	}
	dataDir := packagedDataDir(t)
	if _, ok := c.Volumes[dataDir]; !ok || len(c.Volumes) != 1 {
		t.Errorf("volumes %v, want only relay.yaml's data_dir %s", c.Volumes, dataDir)
	}
	if c.Healthcheck == nil || !slices.Equal(c.Healthcheck.Test, HealthCheck) || c.Healthcheck.Interval <= 0 {
		t.Errorf("health check %+v, want %q", c.Healthcheck, HealthCheck)
	}
	if c.Labels["org.opencontainers.image.version"] != version {
		t.Errorf("version label %q, want %q", c.Labels["org.opencontainers.image.version"], version)
	}
	for _, p := range []string{"4222/tcp", "8080/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed", p)
		}
	}
	files := map[string]entry{}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read image files: %v", err)
		}
		raw, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = entry{h, raw}
	}
	want := []struct {
		name string
		mode int64
		uid  int
		dir  bool
	}{
		{"usr/local/bin/sei-relay", 0o755, 0, false},
		{"etc/sei-relay/relay.yaml", 0o644, 0, false},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, 0, false},
		{"etc/passwd", 0o644, 0, false},
		{"tmp", 0o1777, 0, true},
		{strings.TrimPrefix(dataDir, "/"), 0o700, UID, true},
	}
	for _, w := range want {
		e, ok := files[w.name]
		switch {
		case !ok:
			t.Errorf("image lacks /%s", w.name)
		case e.hdr.Mode&0o7777 != w.mode || e.hdr.Uid != w.uid || e.hdr.Gid != w.uid || (e.hdr.Typeflag == tar.TypeDir) != w.dir:
			t.Errorf("/%s: mode %o uid %d gid %d dir %v; want mode %o owner %d dir %v",
				w.name, e.hdr.Mode, e.hdr.Uid, e.hdr.Gid, e.hdr.Typeflag == tar.TypeDir, w.mode, w.uid, w.dir)
		}
	}
	if !strings.Contains(string(files["etc/passwd"].content), ":65532:65532:") {
		t.Errorf("/etc/passwd names no user 65532:\n%s", files["etc/passwd"].content)
	}
	yaml, err := os.ReadFile(relayYAML)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files["etc/sei-relay/relay.yaml"].content, yaml) {
		t.Error("the image's relay.yaml differs from packaging/relay/relay.yaml")
	}
	return files
}

// packagedDataDir reads data_dir from packaging/relay/relay.yaml.
func packagedDataDir(t *testing.T) string {
	t.Helper()
	f, err := os.Open(relayYAML)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "data_dir:"); ok {
			v = strings.TrimSpace(strings.SplitN(v, "#", 2)[0])
			if v != DataDir {
				t.Errorf("relay.yaml data_dir %q, the image's volume is %q", v, DataDir)
			}
			return v
		}
	}
	t.Fatal("packaging/relay/relay.yaml has no data_dir line")
	return ""
}
