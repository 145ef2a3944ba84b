package service

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite packaging/sei-agent.service from SystemdUnit")

// packagedUnit is the configuration of the unit the deb/rpm packages ship.
var packagedUnit = Config{Executable: "/usr/bin/sei-agent", ConfigFile: "/etc/sei-agent/agent.yaml"}

func TestSystemdUnitDirectives(t *testing.T) {
	unit := SystemdUnit(Config{
		Executable: "/opt/sei agent/bin/sei-agent",
		ConfigFile: `/etc/sei-agent/50%"off".yaml`,
		DataDir:    "/srv/sei/data",
		LogDir:     "/var/log/sei-agent",
	})
	for _, want := range []string{
		`ExecStart="/opt/sei agent/bin/sei-agent" "run" "-c" "/etc/sei-agent/50%%\"off\".yaml"`,
		"User=sei-agent", "Group=sei-agent",
		"StateDirectory=sei-agent", "LogsDirectory=sei-agent",
		"Restart=on-failure", "RestartSec=5s", "RestartPreventExitStatus=2",
		"TimeoutStopSec=35s",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
		`ReadWritePaths="/srv/sei/data"`,
		"WantedBy=multi-user.target",
	} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("unit lacks line %q:\n%s", want, unit)
		}
	}
	if strings.Count(unit, "ReadWritePaths=") != 1 {
		t.Errorf("want one ReadWritePaths (the log dir is LogsDirectory):\n%s", unit)
	}
	if strings.Contains(unit, "{{") {
		t.Error("unit contains a template action; kardianos would try to render it")
	}
}

func TestWithin(t *testing.T) {
	tests := []struct {
		p, dir string
		want   bool
	}{
		{"/var/lib/sei-agent", "/var/lib/sei-agent", true},
		{"/var/lib/sei-agent/buffer", "/var/lib/sei-agent", true},
		{"/var/lib/sei-agent2", "/var/lib/sei-agent", false},
		{"/var/lib", "/var/lib/sei-agent", false},
		{"/home/x/..foo", "/home/x", true},
	}
	for _, tt := range tests {
		if got := within(tt.p, tt.dir); got != tt.want {
			t.Errorf("within(%q, %q) = %v, want %v", tt.p, tt.dir, got, tt.want)
		}
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit rendered
// for a real executable. verify reports unknown or malformed directives on
// stderr with exit status 0, so any output fails the test.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze not found; CI must provide it (apt-get install systemd)")
		}
		t.Skip("systemd-analyze not found; install systemd to run this test")
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "sei agent") // a space, to check the quoting
	src, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, src, 0o755); err != nil {
		t.Fatal(err)
	}
	units := map[string]Config{
		"temp": {Executable: exe, ConfigFile: filepath.Join(dir, "agent%1.yaml"), DataDir: filepath.Join(dir, "data")},
		"packaged": {
			Executable: exe, ConfigFile: packagedUnit.ConfigFile,
		},
	}
	for name, cfg := range units {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "sei-agent.service")
			if err := os.WriteFile(path, []byte(SystemdUnit(cfg)), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(analyze, "verify", path)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if err != nil || out.Len() > 0 {
				t.Fatalf("systemd-analyze verify: %v\n%s\nunit:\n%s", err, out.String(), SystemdUnit(cfg))
			}
		})
	}
}

// TestPackagedUnitIsCurrent keeps packaging/sei-agent.service equal to what
// Install writes. Regenerate with: go test ./agent/service -run PackagedUnit -update
func TestPackagedUnitIsCurrent(t *testing.T) {
	path := filepath.Join("..", "..", "packaging", "sei-agent.service")
	want := SystemdUnit(packagedUnit)
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("%s is stale; run go test ./agent/service -run PackagedUnit -update (-want +got):\n%s", path, diff)
	}
}
