package service

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	kservice "github.com/kardianos/service"
	"github.com/rs/zerolog"
)

// testConfig returns a Config with an existing executable and config file
// in a temp dir.
func testConfig(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	exe := filepath.Join(dir, "sei-agent")
	cfgFile := filepath.Join(dir, "agent.yaml")
	for _, f := range []string{exe, cfgFile} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return Config{Executable: exe, ConfigFile: cfgFile, Validate: func() error { return nil }, Logger: zerolog.Nop()}
}

func TestInstallRefusesInvalidConfig(t *testing.T) {
	rec, fh := useFake(t, platformSystemd)
	cfg := testConfig(t)
	cfg.Validate = func() error { return errors.New("servicenow.url: must be set") }
	err := Install(cfg)
	if err == nil || !strings.Contains(err.Error(), "does not validate") || !strings.Contains(err.Error(), "servicenow.url") {
		t.Fatalf("Install = %v, want a validation error naming the key", err)
	}
	if len(rec.Calls()) != 0 || len(fh.calls) != 0 {
		t.Errorf("service manager calls %v, host calls %v; want none", rec.Calls(), fh.calls)
	}
}

func TestInstallRefusesMissingConfigFile(t *testing.T) {
	rec, _ := useFake(t, platformSystemd)
	cfg := testConfig(t)
	cfg.ConfigFile += ".missing"
	if err := Install(cfg); err == nil {
		t.Fatal("Install with a missing config file succeeded")
	}
	if len(rec.Calls()) != 0 {
		t.Errorf("calls %v, want none", rec.Calls())
	}
}

func TestInstallSystemdRecordsUnitAndHost(t *testing.T) {
	rec, fh := useFake(t, platformSystemd)
	cfg := testConfig(t)
	dir := filepath.Dir(cfg.ConfigFile)
	t.Chdir(dir)
	cfg.ConfigFile = "agent.yaml" // relative to the caller's cwd
	cfg.DataDir = filepath.Join(dir, "data")
	if err := Install(cfg); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Install"}, rec.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	absCfg := filepath.Join(dir, "agent.yaml")
	kc := rec.config
	if diff := cmp.Diff([]string{"run", "-c", absCfg}, kc.Arguments); diff != "" {
		t.Errorf("arguments (-want +got):\n%s", diff)
	}
	if kc.Executable != cfg.Executable || kc.Name != "sei-agent" || kc.UserName != "" {
		t.Errorf("executable %q name %q user %q", kc.Executable, kc.Name, kc.UserName)
	}
	want := cfg
	want.ConfigFile = absCfg
	if diff := cmp.Diff(SystemdUnit(want), kc.Option["SystemdScript"]); diff != "" {
		t.Errorf("installed unit differs from SystemdUnit (-want +got):\n%s", diff)
	}
	wantHost := []string{
		"user sei-agent /var/lib/sei-agent",
		"dir " + cfg.DataDir + " sei-agent",
		"readable " + absCfg + " sei-agent",
	}
	if diff := cmp.Diff(wantHost, fh.calls); diff != "" {
		t.Errorf("host calls (-want +got):\n%s", diff)
	}
	// kardianos silently ignores option values of any other type.
	for k, v := range kc.Option {
		switch v.(type) {
		case string, int, bool, func():
		default:
			t.Errorf("option %s has type %T; kardianos reads only string, int, bool", k, v)
		}
	}
	if err := Install(cfg); err == nil {
		t.Error("second Install succeeded, want already installed")
	}
}

func TestInstallSysVSkipsHostChanges(t *testing.T) {
	rec, fh := useFake(t, platformSysV)
	if err := Install(testConfig(t)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Install"}, rec.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if len(fh.calls) != 0 {
		t.Errorf("host calls %v on SysV, want none", fh.calls)
	}
}

func TestInstallRefusesHomeUnderSystemd(t *testing.T) {
	rec, _ := useFake(t, platformSystemd)
	cfg := testConfig(t)
	cfg.ConfigFile = "/root/agent.yaml"
	err := Install(cfg)
	if err == nil || !strings.Contains(err.Error(), "ProtectHome") {
		t.Fatalf("Install = %v, want a ProtectHome error", err)
	}
	if len(rec.Calls()) != 0 {
		t.Errorf("calls %v, want none", rec.Calls())
	}
}

func TestInstallRejectsNewlineInPath(t *testing.T) {
	useFake(t, platformSystemd)
	cfg := testConfig(t)
	cfg.DataDir = "/var/lib/x\nExecStartPre=/bin/evil"
	if err := Install(cfg); err == nil || !strings.Contains(err.Error(), "control character") {
		t.Fatalf("Install = %v, want a control character error", err)
	}
}

func TestUninstall(t *testing.T) {
	tests := []struct {
		name      string
		installed bool
		running   bool
		purge     bool
		wantCalls []string
		wantErr   bool
		wantData  bool
	}{
		{name: "running: stops first, keeps data", installed: true, running: true, wantCalls: []string{"Stop", "Uninstall"}, wantData: true},
		{name: "stopped: no stop, keeps data", installed: true, wantCalls: []string{"Uninstall"}, wantData: true},
		{name: "purge removes data", installed: true, running: true, purge: true, wantCalls: []string{"Stop", "Uninstall"}},
		{name: "not installed", wantErr: true, wantData: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, _ := useFake(t, platformSystemd)
			rec.installed, rec.running = tt.installed, tt.running
			data := filepath.Join(t.TempDir(), "data")
			if err := os.MkdirAll(filepath.Join(data, "buffer"), 0o700); err != nil {
				t.Fatal(err)
			}
			err := Uninstall(Config{DataDir: data, Logger: zerolog.Nop()}, tt.purge)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Uninstall = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.wantCalls, rec.Calls()); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
			_, statErr := os.Stat(filepath.Join(data, "buffer"))
			if gotData := statErr == nil; gotData != tt.wantData {
				t.Errorf("data directory present = %v, want %v", gotData, tt.wantData)
			}
		})
	}
}

func TestUninstallStopFailureKeepsService(t *testing.T) {
	rec, _ := useFake(t, platformSystemd)
	rec.installed, rec.running, rec.stopErr = true, true, errors.New("timeout")
	if err := Uninstall(Config{}, false); err == nil {
		t.Fatal("Uninstall succeeded though the running service did not stop")
	}
	if diff := cmp.Diff([]string{"Stop"}, rec.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestUninstallRefusesUnsafePurge(t *testing.T) {
	for _, dir := range []string{"", "data", "/"} {
		rec, _ := useFake(t, platformSystemd)
		rec.installed = true
		if err := Uninstall(Config{DataDir: dir}, true); err == nil {
			t.Errorf("Uninstall(purge %q) succeeded", dir)
		}
		if len(rec.Calls()) != 0 {
			t.Errorf("purge %q: calls %v, want none", dir, rec.Calls())
		}
	}
}

func TestControl(t *testing.T) {
	rec, _ := useFake(t, platformSystemd)
	rec.installed = true
	for _, a := range []string{"start", "restart", "stop"} {
		if err := Control(Config{}, a); err != nil {
			t.Fatalf("Control(%s) = %v", a, err)
		}
	}
	if err := Control(Config{}, "install"); err == nil {
		t.Error("Control(install) succeeded; only start, stop, restart are control actions")
	}
	if diff := cmp.Diff([]string{"Start", "Restart", "Stop"}, rec.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name                       string
		installed, running, failed bool
		want                       string
	}{
		{name: "not installed", want: StatusNotInstalled},
		{name: "stopped", installed: true, want: StatusStopped},
		{name: "running", installed: true, running: true, want: StatusRunning},
		{name: "failed", installed: true, failed: true, want: StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, _ := useFake(t, platformSystemd)
			rec.installed, rec.running, rec.failed = tt.installed, tt.running, tt.failed
			got, err := Status(Config{})
			if err != nil || got != tt.want {
				t.Fatalf("Status = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestKardianosOptionsWindowsStart(t *testing.T) {
	o := kardianosOptions(withDefaults(Config{}))
	want := kservice.KeyValue{"StartType": "automatic"}
	delete(o, "SystemdScript")
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

func TestInteractiveAndPlatformFollowChosenSystem(t *testing.T) {
	useFake(t, platformSystemd)
	if Interactive() {
		t.Error("Interactive under the fake service manager")
	}
	if Platform() != platformSystemd {
		t.Errorf("Platform = %q", Platform())
	}
}
