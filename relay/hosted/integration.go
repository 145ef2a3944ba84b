package hosted

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/secret"
	"github.com/sei-edge/servicenow-edge/relay/wire"
)

// TypeCloud is the one integration type the relay hosts.
const TypeCloud = "cloud"

// Auth methods and OAuth grants of a hosted integration.
const (
	MethodBasic       = "basic"
	MethodOAuth       = "oauth"
	GrantAuthCode     = "authorization_code"
	GrantClientCreds  = "client_credentials"
	GrantPassword     = "password"
	maxListLen        = 200
	maxHostedNameLen  = 56 // room for the "hosted-" prefix of its agent id
	minInterval       = time.Minute
	defaultGrantOAuth = GrantAuthCode
)

// States of an integration, as GET shows them.
const (
	StateOK           = "OK"
	StateNotConnected = "NOT_CONNECTED" // OAuth authorization_code before the first connect
	StateFailing      = "FAILING"
)

// ReconnectReason is the reason of an integration whose OAuth authorization
// ServiceNow refused; the next oauth/start and callback repair it.
const ReconnectReason = "reconnect ServiceNow"

// Integration is one hosted integration as stored: secrets sealed.
type Integration struct {
	ID            string                      `json:"id"`
	Tenant        string                      `json:"tenant"`
	Name          string                      `json:"name"`
	Type          string                      `json:"type"`
	URL           string                      `json:"url"`
	Auth          storedAuth                  `json:"auth"`
	ExcludeFields []string                    `json:"exclude_fields,omitempty"`
	Tables        map[string]wire.HostedTable `json:"tables,omitempty"`
	Interval      string                      `json:"interval,omitempty"`
	// Failing, when set, is why the integration cannot run until an admin
	// acts (ReconnectReason and the detail).
	Failing string `json:"failing,omitempty"`
	// Settings counts the changes of what the pipeline runs with (settings
	// and tokens, not Failing): a hosted agent restarts a pipeline whose
	// Settings changed.
	Settings uint64    `json:"settings"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	// Revision is the KV revision it was read at (not stored).
	Revision uint64 `json:"-"`
}

// storedAuth is the auth block with its secrets sealed.
type storedAuth struct {
	Method       string    `json:"method"`
	Grant        string    `json:"grant,omitempty"`
	Username     string    `json:"username,omitempty"`
	ClientID     string    `json:"client_id,omitempty"`
	Password     string    `json:"password,omitempty"`      // sealed
	ClientSecret string    `json:"client_secret,omitempty"` // sealed
	Token        string    `json:"token,omitempty"`         // sealed JSON of wire.HostedToken
	Connected    time.Time `json:"connected,omitzero"`      // last OAuth connect
}

// Spec is the body of POST and PATCH /v1/integrations. In a PATCH an
// absent field keeps its value; an auth block without a secret keeps the
// stored one when the method is unchanged.
type Spec struct {
	Tenant        *string                      `json:"tenant"`
	Name          *string                      `json:"name"`
	Type          *string                      `json:"type"`
	URL           *string                      `json:"url"`
	Auth          *AuthSpec                    `json:"auth"`
	ExcludeFields *[]string                    `json:"exclude_fields"`
	Tables        *map[string]wire.HostedTable `json:"tables"`
	Interval      *string                      `json:"interval"`
}

// AuthSpec is the auth block of a Spec: username and password, or an OAuth
// client id and secret.
type AuthSpec struct {
	Method       string `json:"method"`
	Grant        string `json:"grant"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// FieldError is a request problem, naming the JSON field to fix.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

var fieldRE = regexp.MustCompile(`^[a-z0-9_][a-z0-9_.]{0,79}$`)

// CheckURL checks an instance URL: https, a host, no userinfo, no query or
// fragment, no path but "/". It returns the normalised https://host[:port].
func CheckURL(raw string) (string, error) {
	if secret.HasUserinfo(raw) {
		return "", fieldErr("url", "must not hold a user or password: put them in auth")
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	switch {
	case err != nil || u.Host == "":
		return "", fieldErr("url", "must be the instance's address, such as https://example.service-now.com (got %q)", secret.RedactURL(raw))
	case u.Scheme != "https":
		return "", fieldErr("url", "must be https (got %q)", u.Scheme)
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return "", fieldErr("url", "must be the instance's address alone, without a path or query (got %q)", secret.RedactURL(raw))
	}
	return "https://" + strings.ToLower(u.Host), nil
}

// newIntegration checks a POST body and builds the integration, secrets
// still in the clear in auth (sealed by the caller).
func newIntegration(s Spec, now time.Time) (*Integration, *AuthSpec, error) {
	in := &Integration{Type: TypeCloud, Settings: 1, Created: now, Updated: now}
	req := map[string]*string{"tenant": s.Tenant, "name": s.Name, "url": s.URL}
	for _, k := range []string{"tenant", "name", "url"} {
		if req[k] == nil || *req[k] == "" {
			return nil, nil, fieldErr(k, "required")
		}
	}
	in.Tenant, in.Name = *s.Tenant, *s.Name
	if err := wire.CheckName("tenant", in.Tenant); err != nil {
		return nil, nil, fieldErr("tenant", "%v", err)
	}
	if err := wire.CheckName("name", in.Name); err != nil || len(in.Name) > maxHostedNameLen {
		return nil, nil, fieldErr("name", "must match [a-z0-9][a-z0-9_-]{0,55} (got %q)", in.Name)
	}
	if s.Type != nil && *s.Type != TypeCloud {
		return nil, nil, fieldErr("type", "must be %q: on-prem instances are polled by an agent installed beside them (got %q)", TypeCloud, *s.Type)
	}
	in.ID = wire.HostedID(in.Tenant, in.Name)
	if s.Auth == nil {
		return nil, nil, fieldErr("auth", "required: {\"method\":\"basic\",\"username\",\"password\"} or {\"method\":\"oauth\",\"client_id\",\"client_secret\"}")
	}
	if err := in.apply(s, nil); err != nil {
		return nil, nil, err
	}
	return in, s.Auth, nil
}

// apply sets the changeable fields of s on in; old is the stored auth, nil
// on create. It checks everything it sets.
func (in *Integration) apply(s Spec, old *storedAuth) error {
	if s.URL != nil {
		u, err := CheckURL(*s.URL)
		if err != nil {
			return err
		}
		in.URL = u
	}
	if s.Auth != nil {
		if err := checkAuth(s.Auth, old); err != nil {
			return err
		}
	}
	if s.ExcludeFields != nil {
		if err := checkFields("exclude_fields", *s.ExcludeFields); err != nil {
			return err
		}
		in.ExcludeFields = *s.ExcludeFields
	}
	if s.Tables != nil {
		if err := checkTables(*s.Tables); err != nil {
			return err
		}
		in.Tables = *s.Tables
	}
	if s.Interval != nil {
		if *s.Interval != "" {
			d, err := time.ParseDuration(*s.Interval)
			if err != nil || d < minInterval || d > 24*time.Hour {
				return fieldErr("interval", "must be a duration from 1m to 24h, such as \"1h\" (got %q)", *s.Interval)
			}
		}
		in.Interval = *s.Interval
	}
	return nil
}

// checkAuth checks an auth block; a missing secret may come from old
// (same method and client).
func checkAuth(a *AuthSpec, old *storedAuth) error {
	same := old != nil && old.Method == a.Method
	switch a.Method {
	case MethodBasic:
		if a.Username == "" {
			return fieldErr("auth.username", "required for basic auth")
		}
		if a.Password == "" && !(same && old.Password != "") {
			return fieldErr("auth.password", "required for basic auth")
		}
		if a.Grant != "" || a.ClientID != "" || a.ClientSecret != "" {
			return fieldErr("auth", "basic auth takes username and password only")
		}
	case MethodOAuth:
		if a.Grant == "" {
			a.Grant = defaultGrantOAuth
		}
		if a.ClientID == "" {
			return fieldErr("auth.client_id", "required for oauth")
		}
		if a.ClientSecret == "" && !(same && old.ClientID == a.ClientID && old.ClientSecret != "") {
			return fieldErr("auth.client_secret", "required for oauth")
		}
		switch a.Grant {
		case GrantAuthCode, GrantClientCreds:
			if a.Username != "" || a.Password != "" {
				return fieldErr("auth", "the %s grant takes client_id and client_secret only", a.Grant)
			}
		case GrantPassword:
			if a.Username == "" || (a.Password == "" && !(same && old.Password != "")) {
				return fieldErr("auth", "the oauth password grant needs username and password")
			}
		default:
			return fieldErr("auth.grant", "must be authorization_code, client_credentials or password (got %q)", a.Grant)
		}
	default:
		return fieldErr("auth.method", "must be basic or oauth (got %q)", a.Method)
	}
	return nil
}

func checkFields(key string, fields []string) error {
	if len(fields) > maxListLen {
		return fieldErr(key, "at most %d fields (got %d)", maxListLen, len(fields))
	}
	for _, f := range fields {
		if !fieldRE.MatchString(f) {
			return fieldErr(key, "%q is not a ServiceNow field name", f)
		}
	}
	return nil
}

func checkTables(tables map[string]wire.HostedTable) error {
	if len(tables) > maxListLen {
		return fieldErr("tables", "at most %d tables (got %d)", maxListLen, len(tables))
	}
	for name, t := range tables {
		if !wire.ValidTable(name) {
			return fieldErr("tables", "%q is not a table name", name)
		}
		if err := checkFields("tables."+name+".exclude_fields", t.ExcludeFields); err != nil {
			return err
		}
	}
	return nil
}

// View is an integration as the API shows it: every secret "***".
type View struct {
	ID            string                      `json:"id"`
	Tenant        string                      `json:"tenant"`
	Name          string                      `json:"name"`
	Type          string                      `json:"type"`
	URL           string                      `json:"url"`
	Auth          AuthView                    `json:"auth"`
	ExcludeFields []string                    `json:"exclude_fields"`
	Tables        map[string]wire.HostedTable `json:"tables,omitempty"`
	Interval      string                      `json:"interval,omitempty"`
	State         string                      `json:"state"`
	Reason        string                      `json:"reason,omitempty"`
	// RedirectURL is what the admin registers in the ServiceNow OAuth
	// application (relay public URL + /v1/oauth/callback).
	RedirectURL string    `json:"redirect_url,omitempty"`
	Holder      string    `json:"holder,omitempty"` // the hosted agent polling it now
	Agent       string    `json:"agent"`            // the agent id its data and heartbeats carry
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// AuthView is the auth block of a View.
type AuthView struct {
	Method       string    `json:"method"`
	Grant        string    `json:"grant,omitempty"`
	Username     string    `json:"username,omitempty"`
	Password     string    `json:"password,omitempty"` // "***" when set
	ClientID     string    `json:"client_id,omitempty"`
	ClientSecret string    `json:"client_secret,omitempty"` // "***" when set
	Token        string    `json:"token,omitempty"`         // "***" when connected
	Connected    time.Time `json:"connected,omitzero"`
}

func mask(sealed string) string {
	if sealed == "" {
		return ""
	}
	return secret.Masked
}

// State returns the integration's state and its reason.
func (in *Integration) State() (string, string) {
	switch {
	case in.Failing != "":
		return StateFailing, in.Failing
	case in.needsConnect():
		return StateNotConnected, "press Connect ServiceNow (GET /v1/integrations/" + in.ID + "/oauth/start)"
	}
	return StateOK, ""
}

// Runnable reports whether a hosted agent should poll it: not FAILING
// (which waits for an admin) and, for authorization_code, connected.
func (in *Integration) Runnable() bool { return in.Failing == "" && !in.needsConnect() }

// needsConnect reports an authorization_code integration without tokens.
func (in *Integration) needsConnect() bool {
	return in.Auth.Method == MethodOAuth && in.Auth.Grant == GrantAuthCode && in.Auth.Token == ""
}

// view builds the API form; redirect is the OAuth redirect URL ("" when
// the relay has no public URL).
func (in *Integration) view(redirect, holder string) View {
	v := View{ID: in.ID, Tenant: in.Tenant, Name: in.Name, Type: in.Type, URL: in.URL,
		ExcludeFields: in.ExcludeFields, Tables: in.Tables, Interval: in.Interval,
		Holder: holder, Agent: wire.HostedAgentID(in.Name), Created: in.Created, Updated: in.Updated}
	if v.ExcludeFields == nil {
		v.ExcludeFields = []string{}
	}
	a := in.Auth
	v.Auth = AuthView{Method: a.Method, Grant: a.Grant, Username: a.Username, Password: mask(a.Password),
		ClientID: a.ClientID, ClientSecret: mask(a.ClientSecret), Token: mask(a.Token), Connected: a.Connected}
	v.State, v.Reason = in.State()
	if a.Method == MethodOAuth && a.Grant == GrantAuthCode {
		v.RedirectURL = redirect
	}
	return v
}

// sortViews orders a listing by id.
func sortViews(vs []View) { sort.Slice(vs, func(i, j int) bool { return vs[i].ID < vs[j].ID }) }
