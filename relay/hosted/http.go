package hosted

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/sei-edge/servicenow-edge/relay/httpjson"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// maxBody bounds a POST or PATCH body.
const maxBody = 64 << 10

// caller is who a request speaks for (relay/api authenticated it).
type caller struct {
	admin  bool
	tenant string
}

// sees reports whether c may see tenant's integrations.
func (c caller) sees(tenant string) bool { return c.admin || (c.tenant != "" && c.tenant == tenant) }

// ServeHosted serves /v1/integrations and below for a request the API
// authenticated: admin for the admin token, else tenant is the tenant
// token's tenant.
func (h *Hosted) ServeHosted(w http.ResponseWriter, r *http.Request, admin bool, tenant string) {
	c := caller{admin: admin, tenant: tenant}
	rest, _ := strings.CutPrefix(r.URL.Path, "/v1/integrations")
	if rest == "" || rest == "/" {
		switch r.Method {
		case http.MethodPost:
			h.create(w, r, c)
		case http.MethodGet:
			h.list(w, r, c)
		default:
			methodNotAllowed(w, "GET, POST")
		}
		return
	}
	id, action, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	in, ok := h.visible(w, r, c, id)
	if !ok {
		return
	}
	route := r.Method + " " + action
	switch route {
	case "GET ":
		writeJSON(w, http.StatusOK, in.view(h.RedirectURL(), h.holderOf(r.Context(), id)))
	case "PATCH ":
		h.patch(w, r, id)
	case "DELETE ":
		h.delete(w, r, in)
	case "POST validate":
		h.validate(w, r, in)
	case "GET oauth/start":
		h.oauthStart(w, r, in)
	case "GET status":
		h.status(w, r, in)
	default:
		writeError(w, http.StatusNotFound, "", "no such endpoint: "+r.Method+" "+r.URL.Path)
	}
}

// visible reads integration id for c; another tenant's answers 404 exactly
// as an unknown id does.
func (h *Hosted) visible(w http.ResponseWriter, r *http.Request, c caller, id string) (*Integration, bool) {
	in, err := h.reg.Get(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound) || (err == nil && !c.sees(in.Tenant)):
		writeError(w, http.StatusNotFound, "id", "no integration "+id)
		return nil, false
	case err != nil:
		h.log.Error().Err(err).Msg("read integration")
		writeError(w, http.StatusServiceUnavailable, "", "read integration: registry unavailable")
		return nil, false
	}
	return in, true
}

func (h *Hosted) holderOf(ctx context.Context, id string) string {
	holder, _ := h.svc.holder(ctx, id)
	return holder
}

func (h *Hosted) create(w http.ResponseWriter, r *http.Request, c caller) {
	var s Spec
	if !decodeBody(w, r, &s) {
		return
	}
	if s.Tenant != nil && *s.Tenant != "" && !c.sees(*s.Tenant) {
		writeError(w, http.StatusForbidden, "tenant", "this token manages only its own tenant")
		return
	}
	if (s.Tenant == nil || *s.Tenant == "") && !c.admin {
		s.Tenant = &c.tenant
	}
	in, err := h.reg.Create(r.Context(), s)
	if h.failed(w, err, "create integration") {
		return
	}
	h.log.Info().Str("integration", in.ID).Str("method", in.Auth.Method).Msg("hosted integration created")
	w.Header().Set("Location", "/v1/integrations/"+in.ID)
	writeJSON(w, http.StatusCreated, in.view(h.RedirectURL(), ""))
}

func (h *Hosted) list(w http.ResponseWriter, r *http.Request, c caller) {
	tenant := r.URL.Query().Get("tenant")
	if !c.admin {
		if tenant != "" && tenant != c.tenant {
			writeError(w, http.StatusForbidden, "tenant", "this token reads only its own tenant")
			return
		}
		tenant = c.tenant
	}
	all, err := h.reg.List(r.Context(), tenant)
	if h.failed(w, err, "list integrations") {
		return
	}
	views := make([]View, 0, len(all))
	for _, in := range all {
		views = append(views, in.view(h.RedirectURL(), h.holderOf(r.Context(), in.ID)))
	}
	sortViews(views)
	writeJSON(w, http.StatusOK, struct {
		Integrations []View `json:"integrations"`
	}{views})
}

func (h *Hosted) patch(w http.ResponseWriter, r *http.Request, id string) {
	var s Spec
	if !decodeBody(w, r, &s) {
		return
	}
	in, err := h.reg.Patch(r.Context(), id, s)
	if h.failed(w, err, "change integration") {
		return
	}
	h.log.Info().Str("integration", id).Msg("hosted integration changed")
	writeJSON(w, http.StatusOK, in.view(h.RedirectURL(), h.holderOf(r.Context(), id)))
}

func (h *Hosted) delete(w http.ResponseWriter, r *http.Request, in *Integration) {
	if h.failed(w, h.reg.Delete(r.Context(), in.ID), "delete integration") {
		return
	}
	if h.revoke != nil {
		if err := h.revoke(r.Context(), in.Tenant, wire.HostedAgentID(in.Name)); err != nil {
			h.log.Warn().Err(err).Str("integration", in.ID).Msg("revoke the deleted integration's pipeline credentials")
		}
	}
	h.log.Info().Str("integration", in.ID).Msg("hosted integration deleted; its records stay")
	w.WriteHeader(http.StatusNoContent)
}

// validate runs the preflight checks on a hosted agent and answers them one
// per line, as `sei-agent validate` prints them (JSON with Accept:
// application/json).
func (h *Hosted) validate(w http.ResponseWriter, r *http.Request, in *Integration) {
	p, err := h.reg.Pipeline(in)
	if h.failed(w, err, "open integration") {
		return
	}
	rep, err := h.svc.Validate(r.Context(), p)
	switch {
	case errors.Is(err, ErrNoHostedAgent):
		writeError(w, http.StatusServiceUnavailable, "", err.Error())
		return
	case err != nil:
		h.log.Warn().Err(err).Str("integration", in.ID).Msg("validate")
		writeError(w, http.StatusGatewayTimeout, "", err.Error())
		return
	}
	ok := true
	for _, c := range rep.Checks {
		ok = ok && c.OK
	}
	w.Header().Set("Sei-Validate", map[bool]string{true: "ok", false: "failed"}[ok])
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	for _, c := range rep.Checks {
		fmt.Fprintln(w, FormatCheck(c))
	}
}

// FormatCheck is one line of `sei-agent validate`.
func FormatCheck(c wire.HostedCheck) string {
	mark := "ok  "
	if !c.OK {
		mark = "FAIL"
	}
	return fmt.Sprintf("%s %-22s %s", mark, c.Check, c.Detail)
}

// status answers the pipeline's last status document (its heartbeat),
// exactly as `sei-agent status --json` prints it.
func (h *Hosted) status(w http.ResponseWriter, r *http.Request, in *Integration) {
	agents, err := h.store.Agents(r.Context(), in.Tenant)
	if h.failed(w, err, "read status") {
		return
	}
	agent := wire.HostedAgentID(in.Name)
	for _, a := range agents {
		if a.Agent != agent {
			continue
		}
		var hb wire.Heartbeat
		if err := json.Unmarshal(a.Heartbeat, &hb); err != nil || len(hb.Status) == 0 {
			break
		}
		st, _ := in.State()
		w.Header().Set("Sei-Integration-State", st)
		w.Header().Set("Sei-Last-Heartbeat", a.Seen.UTC().Format("2006-01-02T15:04:05Z"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(hb.Status)
		return
	}
	st, why := in.State()
	writeError(w, http.StatusNotFound, "", fmt.Sprintf("no status yet for %s (%s %s): no hosted agent has polled it", in.ID, st, why))
}

// failed answers err (nil: false) with its status: a FieldError 400, an
// unknown id 404, a taken id 409, anything else 503 (logged, not shown).
func (h *Hosted) failed(w http.ResponseWriter, err error, what string) bool {
	var fe *FieldError
	switch {
	case err == nil:
		return false
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fe.Field, fe.Error())
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "id", err.Error())
	case errors.Is(err, ErrExists):
		writeError(w, http.StatusConflict, "name", err.Error()+": choose another name, or PATCH it")
	default:
		h.log.Error().Err(err).Msg(what)
		writeError(w, http.StatusServiceUnavailable, "", what+": registry unavailable")
	}
	return true
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "", "decode body: "+err.Error())
		return false
	}
	return true
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "", "method not allowed")
}

// writeError and writeJSON answer in the body shape every relay HTTP
// endpoint shares.
var (
	writeError = httpjson.WriteError
	writeJSON  = httpjson.Write
)

// oauthStart redirects to the instance's oauth_auth.do with a fresh state.
func (h *Hosted) oauthStart(w http.ResponseWriter, r *http.Request, in *Integration) {
	if in.Auth.Method != MethodOAuth || in.Auth.Grant != GrantAuthCode {
		writeError(w, http.StatusBadRequest, "auth.grant", "Connect ServiceNow applies to auth.method oauth with the authorization_code grant")
		return
	}
	if h.RedirectURL() == "" {
		writeError(w, http.StatusServiceUnavailable, "", "set hosted.public_url in the relay configuration: the OAuth redirect URL is built from it")
		return
	}
	p, err := h.reg.Pipeline(in)
	if h.failed(w, err, "open integration") {
		return
	}
	state, err := h.states.New(r.Context(), in.ID, h.now())
	if h.failed(w, err, "start OAuth") {
		return
	}
	h.log.Info().Str("integration", in.ID).Msg("OAuth connect started")
	http.Redirect(w, r, authorizeURL(p, h.RedirectURL(), state), http.StatusFound)
}

var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>SEI: ServiceNow {{if .OK}}connected{{else}}not connected{{end}}</title></head>
<body><h1>{{if .OK}}ServiceNow is connected{{else}}ServiceNow is not connected{{end}}</h1>
<p>{{.Message}}</p>{{if .ID}}<p>Integration: {{.ID}}</p>{{end}}</body></html>
`))

// ServeOAuthCallback is where ServiceNow sends the browser back: it takes
// the state (single use), exchanges the code at the instance's
// oauth_token.do, seals the tokens and shows a small page. It needs no
// bearer token: the state is the credential.
func (h *Hosted) ServeOAuthCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page := func(code int, id, msg string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.WriteHeader(code)
		_ = callbackPage.Execute(w, struct {
			OK          bool
			ID, Message string
		}{code == http.StatusOK, id, msg})
	}
	if r.Method != http.MethodGet {
		page(http.StatusMethodNotAllowed, "", "use GET")
		return
	}
	id, err := h.states.Take(r.Context(), q.Get("state"), h.now())
	if err != nil {
		h.log.Warn().Err(err).Msg("OAuth callback refused")
		page(http.StatusBadRequest, "", err.Error())
		return
	}
	if e := q.Get("error"); e != "" {
		page(http.StatusBadRequest, id, "ServiceNow did not allow the application: "+e+" "+q.Get("error_description"))
		return
	}
	code := q.Get("code")
	if code == "" {
		page(http.StatusBadRequest, id, "ServiceNow sent no authorization code")
		return
	}
	in, err := h.reg.Get(r.Context(), id)
	if err != nil {
		page(http.StatusNotFound, id, "the integration was deleted")
		return
	}
	p, err := h.reg.Pipeline(in)
	if err != nil {
		h.log.Error().Err(err).Str("integration", id).Msg("open integration")
		page(http.StatusInternalServerError, id, "the relay cannot open the integration's secrets")
		return
	}
	tok, err := exchange(r.Context(), h.hc, p, h.RedirectURL(), code)
	if err != nil {
		h.log.Warn().Err(err).Str("integration", id).Msg("OAuth code exchange")
		page(http.StatusBadGateway, id, err.Error())
		return
	}
	if _, err := h.reg.SetToken(r.Context(), id, tok); err != nil {
		h.log.Error().Err(err).Str("integration", id).Msg("store OAuth tokens")
		page(http.StatusServiceUnavailable, id, "the tokens could not be stored; connect again")
		return
	}
	h.log.Info().Str("integration", id).Msg("OAuth connected")
	page(http.StatusOK, id, "SEI can now read "+in.URL+". You may close this page: data arrives at the next poll.")
}

// HostedAgents lists the hosted agents and the integrations each holds,
// for /v1/agents (admin only).
func (h *Hosted) HostedAgents(ctx context.Context) (json.RawMessage, error) {
	holders, err := h.svc.Holders(ctx)
	if err != nil {
		return nil, err
	}
	type agent struct {
		Agent        string   `json:"agent"`
		Integrations []string `json:"integrations"`
	}
	out := []agent{}
	for a, ids := range holders {
		out = append(out, agent{a, ids})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Agent < out[j].Agent })
	return json.Marshal(out)
}
