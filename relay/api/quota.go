package api

import (
	"context"
	"net/http"
)

// QuotaUsage is one tenant's use of its share of the ingest stream, the
// body of GET /v1/quota.
type QuotaUsage struct {
	Tenant string `json:"tenant"`
	// Batches and Bytes are what the tenant holds in the stream now
	// (batches the relay has not stored yet).
	Batches int64 `json:"batches"`
	Bytes   int64 `json:"bytes"`
	// MaxBatches and MaxBytes are quota.max_messages and quota.max_bytes;
	// 0 is no limit.
	MaxBatches int64 `json:"max_batches"`
	MaxBytes   int64 `json:"max_bytes"`
	// Paused is true while the tenant's agents are refused new batches
	// (they keep them and retry, as during an outage).
	Paused bool `json:"paused"`
}

// QuotaFunc reports tenant's quota usage.
type QuotaFunc func(ctx context.Context, tenant string) (QuotaUsage, error)

// quota answers GET /v1/quota?tenant=T: a tenant token reads its own
// tenant (the parameter may be left out), the admin token any tenant.
func (s *Server) quota(w http.ResponseWriter, r *http.Request) {
	tenant, err := parseAgentsQuery(r.URL.Query())
	if err != nil {
		writeParamError(w, err)
		return
	}
	p := who(r)
	if tenant == "" {
		if p.admin {
			writeError(w, http.StatusBadRequest, "tenant", "tenant: required")
			return
		}
		tenant = p.tenant
	}
	if !s.tenantAllowed(w, r, tenant) {
		return
	}
	if s.cfg.Quota == nil {
		writeError(w, http.StatusNotFound, "", "no tenant quota configured (quota.max_messages, quota.max_bytes; embedded NATS only)")
		return
	}
	u, err := s.cfg.Quota(r.Context(), tenant)
	if err != nil {
		s.log.Error().Err(err).Str("tenant", tenant).Msg("read tenant quota")
		writeError(w, http.StatusServiceUnavailable, "", "read tenant quota: stream unavailable")
		return
	}
	writeJSON(w, http.StatusOK, u)
}
