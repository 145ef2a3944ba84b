package api

import "net/http"

// tenantAllowed reports whether the request's token may read tenant's data
// (the admin token reads every tenant, a tenant token only its own), and
// answers 403 when it may not. Every endpoint that serves one tenant's
// records (/v1/records, /v1/changes) asks it.
func (s *Server) tenantAllowed(w http.ResponseWriter, r *http.Request, tenant string) bool {
	if !who(r).mayRead(tenant) {
		forbidden(w, "tenant")
		return false
	}
	return true
}
