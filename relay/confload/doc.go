// Package confload is the one configuration pipeline both sei-agent and
// sei-relay use, so the same mistake gets the same message in both:
//
//  1. Decode: strict YAML over a struct holding the defaults. Unknown and
//     duplicate keys are errors. Every error names the key path, line and
//     column, never a value and never a source line, so a broken line next
//     to a password cannot print it.
//  2. Expand: ${NAME} in every string value, after parsing, so comments and
//     keys are never expanded. Only the braced form expands; a bare $word
//     stays literal and $$ is one $. An unset variable is an error naming
//     the key and the variable.
//  3. ReadSecretFiles: the *_file variant of each secret.
//  4. The program's own Validate, whose problems join the ones above in one
//     *Error.
//
// Duration ("90d" as well as Go's "1h30m") and ByteSize ("8GiB", "100MB")
// are the value types both programs use.
package confload
