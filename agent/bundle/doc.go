// Package bundle writes the agent's support bundle: one zip file a support
// engineer can read without access to the machine, made with or without a
// running agent.
//
// Contents:
//
//	README.txt        what is in the bundle, when and how it was made, what was redacted
//	status.json       the status snapshot (live, or the offline one), the status package's JSON contract
//	status.txt        the same, rendered for people
//	config.yaml       the configuration with every secret replaced by ***
//	logs/<name>       the last 4 MiB of each log file, whole lines, scrubbed
//	figures/<n>.json  buffer, stream and other figures the caller passes
//	system.json       OS facts (GOOS/GOARCH, hostname, kernel, Go version, CPUs,
//	                  free disk of the data dir) and the service's state and facts
//	errors.txt        what could not be collected, and why (only when something failed)
//
// Redaction is belt and braces. The configuration is the caller's redacted
// re-marshal, in which every value whose key ends in password, secret,
// token, seed, private_key or credentials is replaced once more (a ${ENV}
// reference is kept, it is not a secret). Then every
// file, before it is written, has each secret value in Input.Secrets
// replaced by *** (also its JSON-escaped and URL-escaped forms and each
// line of a multi-line secret such as a credentials file), NATS nkey seeds
// and "BEGIN ... SEED" blocks are replaced wherever they appear, and in the
// logs any "<excluded field>": value pair is replaced. Write fails rather
// than write a file that still contains a secret.
package bundle
