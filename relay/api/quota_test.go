package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestQuotaEndpoint: GET /v1/quota answers a tenant token for its own
// tenant only (the parameter may be left out), the admin token for any
// tenant it names, and 404 when the relay has no quota.
func TestQuotaEndpoint(t *testing.T) {
	f := newFixture(t)
	tok, _, err := f.tokens.Create("t1", "quota", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if resp := f.get(t, "/v1/quota?tenant=t1", adminToken); resp.StatusCode != http.StatusNotFound {
		t.Errorf("without quota: %d, want 404", resp.StatusCode)
	}
	srv, err := New(Config{Token: adminToken, Tenants: f.tokens, Store: f.st, Logger: zerolog.Nop(),
		Quota: func(_ context.Context, tenant string) (QuotaUsage, error) {
			return QuotaUsage{Tenant: tenant, Batches: 3, Bytes: 300, MaxBytes: 1 << 20, Paused: tenant == "t1"}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for _, tc := range []struct {
		path, tok string
		code      int
		tenant    string
	}{
		{"/v1/quota", tok, 200, "t1"},
		{"/v1/quota?tenant=t1", tok, 200, "t1"},
		{"/v1/quota?tenant=t2", tok, 403, ""},
		{"/v1/quota?tenant=t2", adminToken, 200, "t2"},
		{"/v1/quota", adminToken, 400, ""},
		{"/v1/quota?tenant=T.2", adminToken, 400, ""},
		{"/v1/quota?tenant=t1&x=1", adminToken, 400, ""},
		{"/v1/quota?tenant=t1", "nope", 401, ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+tc.tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var u QuotaUsage
		_ = json.NewDecoder(resp.Body).Decode(&u)
		resp.Body.Close()
		if resp.StatusCode != tc.code || u.Tenant != tc.tenant {
			t.Errorf("GET %s: %d %+v, want %d for tenant %q", tc.path, resp.StatusCode, u, tc.code, tc.tenant)
		}
		if tc.code == 200 && (u.Bytes != 300 || u.MaxBytes != 1<<20 || u.Paused != (tc.tenant == "t1")) {
			t.Errorf("GET %s: %+v", tc.path, u)
		}
	}
}
