package wire

import (
	"fmt"
	"strings"
	"time"
)

// Hosted pollers (ServiceNow Cloud, no install): the contract between the
// relay, which keeps the integrations and their secrets, and `sei-agent
// hosted`, which polls them. Everything here lives in the relay's NATS
// account, which no tenant account imports from: a hosted agent connects
// as a user of that account (`sei-relay hosted enroll`).
//
//   - The relay keeps the integrations in the JetStream KV bucket
//     HostedIntegrationsBucket (secrets sealed); hosted agents never read it.
//   - Hosted agents share the integrations through leases in the KV bucket
//     HostedLeasesBucket, one key per integration (HostedLeaseKey), created
//     and renewed with a revision check. The bucket's TTL is the lease
//     period: a holder that stops renewing loses its lease when the server
//     expires the key, and another agent may then create it.
//   - A hosted agent asks HostedListSubject which integrations exist, and
//     HostedOpenSubject for the pipeline of one it holds a lease on (the
//     relay checks the lease and answers with the decrypted settings and
//     the NATS credentials to publish under the integration's tenant).
//   - The relay asks HostedValidateSubject (queue group HostedQueue) to run
//     the preflight checks of an integration on any hosted agent.
//   - A hosted agent reports on HostedReportSubject an integration whose
//     authorization ServiceNow refused (reconnect needed).
const (
	HostedIntegrationsBucket = "SEI_HOSTED_INTEGRATIONS"
	HostedLeasesBucket       = "SEI_HOSTED_LEASES"
	HostedOAuthStateBucket   = "SEI_HOSTED_OAUTH_STATE"

	HostedListSubject     = "sei.hosted.list"
	HostedOpenSubject     = "sei.hosted.open"
	HostedReportSubject   = "sei.hosted.report"
	HostedValidateSubject = "sei.hosted.validate"
	// HostedQueue is the queue group of the relays on list, open and report,
	// and of the hosted agents on validate: one member answers.
	HostedQueue = "sei-hosted"
	// HostedInboxPrefix is the inbox prefix of hosted agents.
	HostedInboxPrefix = "_INBOX_hosted"
)

// HostedID is the id of tenant's hosted integration name: "tenant.name",
// readable in a URL and a valid KV key.
func HostedID(tenant, name string) string { return tenant + "." + name }

// ParseHostedID splits an integration id and checks both names.
func ParseHostedID(id string) (tenant, name string, err error) {
	tenant, name, ok := strings.Cut(id, ".")
	if !ok || !ValidName(tenant) || !ValidName(name) {
		return "", "", fmt.Errorf("integration id %q: must be <tenant>.<name>", id)
	}
	return tenant, name, nil
}

// HostedLeaseKey is the lease key of integration id in HostedLeasesBucket.
func HostedLeaseKey(id string) string { return "lease." + id }

// HostedPresenceKey is the key a hosted agent renews while it runs, so the
// others know how many share the integrations.
func HostedPresenceKey(agent string) string { return "agent." + agent }

// HostedAgentID is the agent id a hosted pipeline of integration name
// publishes and sends heartbeats under, whichever hosted agent runs it.
func HostedAgentID(name string) string {
	id := "hosted-" + name
	if len(id) > 63 {
		id = id[:63]
	}
	return id
}

// HostedLease is the value of a lease key.
type HostedLease struct {
	Holder   string    `json:"holder"` // the hosted agent's name
	Acquired time.Time `json:"acquired"`
	Renewed  time.Time `json:"renewed"`
}

// HostedPresence is the value of a presence key.
type HostedPresence struct {
	Agent   string    `json:"agent"`
	Version string    `json:"version"`
	Renewed time.Time `json:"renewed"`
}

// HostedListReply answers HostedListSubject: every integration with the
// revision of its settings (a change restarts its pipeline).
type HostedListReply struct {
	Integrations []HostedListItem `json:"integrations"`
	Error        string           `json:"error,omitempty"`
}

// HostedListItem is one integration in HostedListReply.
type HostedListItem struct {
	ID       string `json:"id"`
	Revision uint64 `json:"revision"`
}

// HostedOpenRequest asks for the pipeline of an integration the holder
// holds a lease on.
type HostedOpenRequest struct {
	Integration string `json:"integration"`
	Holder      string `json:"holder"`
}

// HostedPipeline is everything a hosted agent needs to poll one
// integration. It holds decrypted secrets: it travels only inside the relay
// account, on TLS, and is never logged or stored as is.
type HostedPipeline struct {
	ID            string                 `json:"id"`
	Tenant        string                 `json:"tenant"`
	Name          string                 `json:"name"`
	Revision      uint64                 `json:"revision"`
	URL           string                 `json:"url"`
	Auth          HostedAuth             `json:"auth"`
	ExcludeFields []string               `json:"exclude_fields,omitempty"`
	Tables        map[string]HostedTable `json:"tables,omitempty"`
	// Interval is the poll interval (Go duration); "" is the default, 1h.
	Interval string `json:"interval,omitempty"`
	// Agent is the agent id the pipeline publishes under (HostedAgentID).
	Agent string `json:"agent"`
	// Credentials is a .creds file for a user of the tenant's account that
	// may publish only this integration; empty when the relay runs without
	// tenant accounts (the hosted agent's own connection publishes).
	Credentials []byte `json:"credentials,omitempty"`
	Error       string `json:"error,omitempty"`
}

// HostedAuth is a pipeline's authentication to ServiceNow.
type HostedAuth struct {
	Method       string       `json:"method"` // basic | oauth
	Grant        string       `json:"grant,omitempty"`
	Username     string       `json:"username,omitempty"`
	Password     string       `json:"password,omitempty"`
	ClientID     string       `json:"client_id,omitempty"`
	ClientSecret string       `json:"client_secret,omitempty"`
	Token        *HostedToken `json:"token,omitempty"` // authorization_code: the tokens of the OAuth connect
}

// HostedToken is an OAuth token pair.
type HostedToken struct {
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	Expiry       time.Time `json:"expiry"`
}

// HostedTable adjusts one table, as servicenow.tables.<table> does on-prem.
type HostedTable struct {
	Enabled       *bool    `json:"enabled,omitempty"`
	ExcludeFields []string `json:"exclude_fields,omitempty"`
}

// HostedCheck is one preflight check, the shape of `sei-agent validate
// --json`.
type HostedCheck struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// HostedValidateReply answers HostedValidateSubject (whose body is a
// HostedPipeline).
type HostedValidateReply struct {
	Agent  string        `json:"agent"` // the hosted agent that ran the checks
	Checks []HostedCheck `json:"checks"`
	Error  string        `json:"error,omitempty"`
}

// HostedReport tells the relay what a holder found about an integration:
// Reconnect means ServiceNow refused its OAuth authorization (the refresh
// token expired or was revoked) and an admin must connect it again.
type HostedReport struct {
	Integration string `json:"integration"`
	Holder      string `json:"holder"`
	Revision    uint64 `json:"revision"` // the pipeline's settings revision
	Reconnect   bool   `json:"reconnect"`
	Detail      string `json:"detail"`
}
