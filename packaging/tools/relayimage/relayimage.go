// Package relayimage builds the sei-relay container image without a Docker
// daemon: one layer on an empty base holding the static binary, its
// configuration, CA certificates, a passwd/group naming the nonroot user,
// and the data directory (the volume) owned by that user.
package relayimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed paths and user. DataDir must equal data_dir in the
// packaged relay.yaml (the artifact test checks it).
const (
	BinaryPath = "/usr/local/bin/sei-relay"
	ConfigPath = "/etc/sei-relay/relay.yaml"
	CACertPath = "/etc/ssl/certs/ca-certificates.crt"
	DataDir    = "/var/lib/sei-relay"
	UID        = 65532
	User       = "65532:65532"
)

// Spec says what goes into the image.
type Spec struct {
	Binary  string    // static linux sei-relay for Arch
	Arch    string    // GOARCH: amd64 or arm64
	Config  string    // relay.yaml installed at ConfigPath
	CACerts string    // CA bundle installed at CACertPath ("" for none)
	Version string    // the version label
	Created time.Time // image and file times (reproducible builds pass a fixed one)
}

// Entrypoint, Cmd and Healthcheck of the image.
var (
	Entrypoint  = []string{BinaryPath}
	Cmd         = []string{"run", "-c", ConfigPath}
	HealthCheck = []string{"CMD", BinaryPath, "health", "-c", ConfigPath}
)

// Build returns the image Spec describes.
func Build(s Spec) (v1.Image, error) {
	switch s.Arch {
	case "amd64", "arm64":
	default:
		return nil, fmt.Errorf("build relay image: arch %q: want amd64 or arm64", s.Arch)
	}
	if s.Version == "" {
		return nil, fmt.Errorf("build relay image: empty version")
	}
	layerTar, err := s.layer()
	if err != nil {
		return nil, fmt.Errorf("build relay image: %w", err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		return nil, fmt.Errorf("build relay image: layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("build relay image: append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("build relay image: config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture = s.Arch
	cf.OS = "linux"
	cf.Created = v1.Time{Time: s.Created}
	cf.Config = v1.Config{
		Entrypoint:   Entrypoint,
		Cmd:          Cmd,
		User:         User,
		WorkingDir:   DataDir,
		Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + CACertPath},
		Volumes:      map[string]struct{}{DataDir: {}},
		ExposedPorts: map[string]struct{}{"4222/tcp": {}, "8080/tcp": {}},
		Healthcheck: &v1.HealthConfig{
			Test:        HealthCheck,
			Interval:    30 * time.Second,
			Timeout:     10 * time.Second,
			StartPeriod: 20 * time.Second,
			Retries:     3,
		},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "sei-relay",
			"org.opencontainers.image.version": s.Version,
			"org.opencontainers.image.vendor":  "SEI",
		},
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("build relay image: set config: %w", err)
	}
	return img, nil
}

// file is one entry of the layer.
type file struct {
	name     string
	mode     int64
	uid      int
	dir      bool
	content  []byte
	fromPath string
}

// layer returns the single layer's uncompressed tar.
func (s Spec) layer() ([]byte, error) {
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, UID)
	group := fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", UID)
	files := []file{
		{name: "etc/", mode: 0o755, dir: true},
		{name: "etc/passwd", mode: 0o644, content: []byte(passwd)},
		{name: "etc/group", mode: 0o644, content: []byte(group)},
		{name: "etc/sei-relay/", mode: 0o755, dir: true},
		{name: "etc/sei-relay/relay.yaml", mode: 0o644, fromPath: s.Config},
		{name: "etc/ssl/", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/", mode: 0o755, dir: true},
		{name: "home/", mode: 0o755, dir: true},
		{name: "home/nonroot/", mode: 0o700, uid: UID, dir: true},
		{name: "tmp/", mode: 0o1777, dir: true},
		{name: "usr/", mode: 0o755, dir: true},
		{name: "usr/local/", mode: 0o755, dir: true},
		{name: "usr/local/bin/", mode: 0o755, dir: true},
		{name: "usr/local/bin/sei-relay", mode: 0o755, fromPath: s.Binary},
		{name: "var/", mode: 0o755, dir: true},
		{name: "var/lib/", mode: 0o755, dir: true},
		// A new named volume copies this owner and mode, so the relay
		// (nonroot) can write its data; a bind mount keeps the host's.
		{name: "var/lib/sei-relay/", mode: 0o700, uid: UID, dir: true},
	}
	if s.CACerts != "" {
		files = append(files, file{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, fromPath: s.CACerts})
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.uid, ModTime: s.Created, Format: tar.FormatPAX}
		content := f.content
		if f.fromPath != "" {
			var err error
			if content, err = os.ReadFile(f.fromPath); err != nil {
				return nil, fmt.Errorf("read %s for %s: %w", f.fromPath, f.name, err)
			}
		}
		if f.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(content))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.name, err)
		}
		if _, err := tw.Write(content); err != nil {
			return nil, fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close layer: %w", err)
	}
	return buf.Bytes(), nil
}
