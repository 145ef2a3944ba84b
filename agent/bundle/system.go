package bundle

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/buffer"
)

// System is system.json: facts about the machine and the service.
type System struct {
	Time         time.Time         `json:"time"`
	GOOS         string            `json:"goos"`
	GOARCH       string            `json:"goarch"`
	GoVersion    string            `json:"go_version"`
	AgentVersion string            `json:"agent_version,omitempty"`
	Hostname     string            `json:"hostname,omitempty"`
	Kernel       string            `json:"kernel,omitempty"`
	OSRelease    string            `json:"os_release,omitempty"`
	NumCPU       int               `json:"num_cpu"`
	Executable   string            `json:"executable,omitempty"`
	UID          int               `json:"uid"` // -1 on Windows
	DataDir      string            `json:"data_dir,omitempty"`
	DiskFree     int64             `json:"data_dir_free_bytes,omitempty"`
	DiskTotal    int64             `json:"data_dir_total_bytes,omitempty"`
	ServiceState string            `json:"service_state,omitempty"`
	Service      map[string]string `json:"service,omitempty"`
	Errors       []string          `json:"errors,omitempty"` // facts that could not be read
}

func systemFacts(ctx context.Context, in Input) System {
	s := System{
		Time: in.Now.UTC(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(),
		AgentVersion: in.Version, NumCPU: runtime.NumCPU(), UID: os.Getuid(),
		DataDir: in.DataDir, ServiceState: in.ServiceState, Service: in.ServiceFacts,
	}
	note := func(what string, err error) { s.Errors = append(s.Errors, what+": "+err.Error()) }
	var err error
	if s.Hostname, err = os.Hostname(); err != nil {
		note("hostname", err)
	}
	if s.Executable, err = os.Executable(); err != nil {
		note("executable", err)
	}
	if s.Kernel, err = kernel(ctx); err != nil {
		note("kernel", err)
	}
	s.OSRelease = osRelease()
	if in.DataDir != "" {
		free, total, err := buffer.DiskSpace(in.DataDir)
		if err != nil {
			note("disk of "+in.DataDir, err)
		}
		s.DiskFree, s.DiskTotal = int64(free), int64(total)
	}
	return s
}

// kernel asks the OS for its kernel or version string, with a deadline.
func kernel(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	name, args := kernelCommand()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
}

// osRelease returns the PRETTY_NAME of /etc/os-release, where there is one.
func osRelease() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
