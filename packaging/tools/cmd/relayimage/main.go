// Command relayimage writes the sei-relay container image as a tarball
// that `docker load` and `podman load` accept (scripts/release.sh runs it).
//
//	relayimage -binary dist/linux_amd64/sei-relay -arch amd64 -config packaging/relay/relay.yaml \
//	    -cacerts /etc/ssl/certs/ca-certificates.crt -version 1.0.0 -out dist/sei-relay_1.0.0_linux_amd64.image.tar
//
// File and image times come from SOURCE_DATE_EPOCH (0 when unset), so the
// same inputs give the same image digest.
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/sei-edge/servicenow-edge/packaging/tools/relayimage"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "relayimage: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("relayimage", flag.ContinueOnError)
	var s relayimage.Spec
	fs.StringVar(&s.Binary, "binary", "", "static linux sei-relay binary (required)")
	fs.StringVar(&s.Arch, "arch", "amd64", "GOARCH of the binary: amd64 or arm64")
	fs.StringVar(&s.Config, "config", "packaging/relay/relay.yaml", "relay.yaml for the image")
	fs.StringVar(&s.CACerts, "cacerts", "", "CA certificate bundle to include")
	fs.StringVar(&s.Version, "version", "", "version (required)")
	repo := fs.String("repo", "sei-relay", "image name the tarball tags")
	out := fs.String("out", "", "output tarball (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if s.Binary == "" || s.Version == "" || *out == "" {
		return fmt.Errorf("-binary, -version and -out are required")
	}
	epoch := int64(0)
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		var err error
		if epoch, err = strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970: %w", v, err)
		}
	}
	s.Created = time.Unix(epoch, 0).UTC()
	img, err := relayimage.Build(s)
	if err != nil {
		return err
	}
	tag, err := name.NewTag(*repo + ":" + s.Version)
	if err != nil {
		return fmt.Errorf("image tag: %w", err)
	}
	if err := tarball.WriteToFile(*out, tag, img); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	return nil
}
