package service

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	kservice "github.com/kardianos/service"
)

// fakeSystem is a kardianos System that records what the package asks of
// the service manager instead of doing it.
type fakeSystem struct {
	name string
	rec  *recorder
}

// recorder holds the calls and the state of the fake service manager.
type recorder struct {
	mu        sync.Mutex
	calls     []string
	config    *kservice.Config // as given to the last New
	installed bool
	running   bool
	failed    bool
	stopErr   error
}

func (r *recorder) record(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

func (f fakeSystem) String() string    { return f.name }
func (f fakeSystem) Detect() bool      { return true }
func (f fakeSystem) Interactive() bool { return false }
func (f fakeSystem) New(i kservice.Interface, c *kservice.Config) (kservice.Service, error) {
	f.rec.mu.Lock()
	f.rec.config = c
	f.rec.mu.Unlock()
	return &fakeService{i: i, c: c, rec: f.rec, platform: f.name}, nil
}

// fakeService is the kardianos Service of fakeSystem.
type fakeService struct {
	i        kservice.Interface
	c        *kservice.Config
	rec      *recorder
	platform string
}

// Run behaves like kardianos's systemd Run: Start, RunWait, Stop.
func (s *fakeService) Run() error {
	s.rec.record("Run")
	if err := s.i.Start(s); err != nil {
		return err
	}
	wait, ok := s.c.Option["RunWait"].(func())
	if !ok {
		return errors.New("fake: no RunWait option")
	}
	wait()
	return s.i.Stop(s)
}

func (s *fakeService) Start() error {
	s.rec.record("Start")
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	if !s.rec.installed {
		return errors.New("fake: not installed")
	}
	s.rec.running = true
	return nil
}

func (s *fakeService) Stop() error {
	s.rec.record("Stop")
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	if s.rec.stopErr != nil {
		return s.rec.stopErr
	}
	s.rec.running = false
	return nil
}

func (s *fakeService) Restart() error {
	s.rec.record("Restart")
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	s.rec.running = true
	return nil
}

func (s *fakeService) Install() error {
	s.rec.record("Install")
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	if s.rec.installed {
		return fmt.Errorf("Init already exists")
	}
	s.rec.installed = true
	return nil
}

func (s *fakeService) Uninstall() error {
	s.rec.record("Uninstall")
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	if s.rec.running {
		return errors.New("fake: uninstalled while running")
	}
	if !s.rec.installed {
		return errors.New("fake: not installed")
	}
	s.rec.installed = false
	return nil
}

func (s *fakeService) Logger(chan<- error) (kservice.Logger, error) {
	return kservice.ConsoleLogger, nil
}
func (s *fakeService) SystemLogger(chan<- error) (kservice.Logger, error) {
	return kservice.ConsoleLogger, nil
}
func (s *fakeService) String() string   { return s.c.Name }
func (s *fakeService) Platform() string { return s.platform }

func (s *fakeService) Status() (kservice.Status, error) {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	switch {
	case !s.rec.installed:
		return kservice.StatusUnknown, kservice.ErrNotInstalled
	case s.rec.failed:
		return kservice.StatusUnknown, errors.New("service in failed state")
	case s.rec.running:
		return kservice.StatusRunning, nil
	}
	return kservice.StatusStopped, nil
}

// fakeHost records the host changes of a systemd install.
type fakeHost struct {
	mu    sync.Mutex
	calls []string
}

func (h *fakeHost) add(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, s)
}

func (h *fakeHost) EnsureUser(name, home string) error {
	h.add("user " + name + " " + home)
	return nil
}
func (h *fakeHost) PrepareDir(dir, user string) error { h.add("dir " + dir + " " + user); return nil }
func (h *fakeHost) CheckReadable(file, user string) error {
	h.add("readable " + file + " " + user)
	return nil
}

// useFake installs a fake service manager named platform (and a fake host)
// for the duration of the test.
func useFake(t *testing.T, platform string) (*recorder, *fakeHost) {
	t.Helper()
	orig := kservice.AvailableSystems()
	origHost := host
	rec := &recorder{}
	fh := &fakeHost{}
	kservice.ChooseSystem(fakeSystem{name: platform, rec: rec})
	host = fh
	t.Cleanup(func() {
		kservice.ChooseSystem(orig...)
		host = origHost
	})
	return rec, fh
}
