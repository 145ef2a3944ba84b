package api

import (
	"context"
	"net/http"
	"sync"
)

// healthReport is the body of /healthz.
type healthReport struct {
	Status  string            `json:"status"`            // "ok" or "failing"
	Failing []string          `json:"failing,omitempty"` // names of the failing checks
	Errors  map[string]string `json:"errors,omitempty"`  // per failing check; only for callers with the admin token
}

// healthz runs every check and answers 200, or 503 naming the failing ones.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	rep := healthReport{Status: "ok"}
	// Check errors may name hosts: only for the admin.
	p, _ := s.principal(r)
	detail := p != nil && p.admin
	for _, c := range s.cfg.Health {
		ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
		err := c.Func(ctx)
		cancel()
		s.noteHealth(c.Name, err)
		if err == nil {
			continue
		}
		rep.Status = "failing"
		rep.Failing = append(rep.Failing, c.Name)
		if detail {
			if rep.Errors == nil {
				rep.Errors = map[string]string{}
			}
			rep.Errors[c.Name] = err.Error()
		}
	}
	code := http.StatusOK
	if len(rep.Failing) > 0 {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, rep)
}

// healthState remembers which checks failed last time, so a failing check is
// logged when it starts failing and when it recovers, not on every probe.
type healthState struct {
	mu sync.Mutex
	// mu guards the field below.
	failing map[string]bool
}

func (s *Server) noteHealth(name string, err error) {
	s.health.mu.Lock()
	was := s.health.failing[name]
	if s.health.failing == nil {
		s.health.failing = map[string]bool{}
	}
	s.health.failing[name] = err != nil
	s.health.mu.Unlock()
	switch {
	case err != nil && !was:
		s.log.Warn().Err(err).Str("check", name).Msg("health check failing")
	case err == nil && was:
		s.log.Info().Str("check", name).Msg("health check recovered")
	}
}
