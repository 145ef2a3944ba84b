package api

import "net/http"

// tenantAllowed reports whether the request may read tenant's data, and
// answers the request when it may not. Every endpoint that serves one
// tenant's records (/v1/records, /v1/changes) asks it, so a check added
// here covers them all. Today the only token is the admin token, which the
// auth middleware checked already and which reads every tenant.
func (s *Server) tenantAllowed(w http.ResponseWriter, r *http.Request, tenant string) bool {
	return true
}
