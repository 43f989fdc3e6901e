package join

import (
	"encoding/base64"
	"errors"
	"strings"
)

// redacted replaces a secret found in a message.
const redacted = "[REDACTED]"

// redact returns err with every occurrence of secret, raw or base64-encoded
// (as it travels inside a FederatedSecret), replaced. API servers may echo
// request content in errors; this is the net under them. An error that does
// not contain the secret is returned unchanged, so it can still be inspected.
func redact(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	msg := err.Error()
	clean := redactString(msg, secret)
	if clean == msg {
		return err
	}
	return errors.New(clean)
}

func redactString(s, secret string) string {
	if secret == "" {
		return s
	}
	for _, form := range []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(secret)),
		base64.RawStdEncoding.EncodeToString([]byte(secret)),
		base64.URLEncoding.EncodeToString([]byte(secret)),
		base64.RawURLEncoding.EncodeToString([]byte(secret)),
	} {
		s = strings.ReplaceAll(s, form, redacted)
	}
	return s
}
