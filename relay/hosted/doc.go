// Package hosted keeps the relay's hosted integrations: ServiceNow Cloud
// instances that SEI polls itself with `sei-agent hosted`, so the customer
// installs nothing.
//
// The integrations live in the JetStream KV bucket
// wire.HostedIntegrationsBucket, so every relay replica sees the same ones
// (the relay's own data_dir is per replica, and the Badger store is too).
// Each entry is the integration's settings with its secrets (password,
// client secret, OAuth tokens) sealed with AES-256-GCM under the key of
// hosted.secret_key_file; the integration id is the sealed value's
// additional data, so a sealed secret moved to another integration does not
// open. No endpoint, log line or status document returns a secret: every
// listing shows "***".
//
// The HTTP API (Handler, mounted by relay/api behind the bearer token):
//
//	POST   /v1/integrations                     create
//	GET    /v1/integrations                     list (a tenant token: its tenant)
//	GET    /v1/integrations/{id}                one, with the OAuth redirect URL
//	PATCH  /v1/integrations/{id}                change url, auth, exclusions, tables, interval
//	DELETE /v1/integrations/{id}                stop polling (records stay)
//	POST   /v1/integrations/{id}/validate       preflight on a hosted agent
//	GET    /v1/integrations/{id}/oauth/start    redirect to the instance's oauth_auth.do
//	GET    /v1/integrations/{id}/status         the pipeline's `sei-agent status --json`
//	GET    /v1/oauth/callback                   (no token: the browser comes back here)
//
// A tenant token sees only its tenant's integrations; another tenant's id
// answers 404 exactly as an unknown one does.
//
// OAuth: oauth/start makes a state of 256 random bits, keeps only its
// SHA-256 in the KV bucket wire.HostedOAuthStateBucket (TTL StateTTL,
// shared by the replicas, since the browser may come back to any), bound to
// the integration, and redirects to the instance. The callback deletes the
// state with a revision check before it uses it (single use, even when two
// replicas race), exchanges the code at oauth_token.do and seals the tokens.
//
// Service answers the hosted agents on NATS (list, open, report) and asks
// them to validate; see relay/wire/hosted.go for the protocol and the
// leases.
package hosted
