package clusterhealth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/klog/v2"

	"github.com/secretfed/secretfed/pkg/apis/secretfed/v1alpha1"
)

// Annotations on a credentials FederatedSecret, agreed with join.
const (
	// ServiceAccountAnnotation names the member ServiceAccount the token
	// belongs to, as namespace/name.
	ServiceAccountAnnotation = "secretfed.io/service-account"
	// TokenExpiryAnnotation is the token's expiry, RFC 3339.
	TokenExpiryAnnotation = "secretfed.io/token-expiry"
)

// minTokenSeconds is the shortest lifetime the TokenRequest API grants.
const minTokenSeconds = 600

// renewTokens renews every member token that has used up the configured
// fraction of its lifetime. A failure is retried on the next period.
func (c *Controller) renewTokens(ctx context.Context) {
	clusters, err := c.fcLister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, fc := range clusters {
		if fc.DeletionTimestamp != nil {
			continue
		}
		if err := c.renewToken(ctx, fc); err != nil {
			klog.FromContext(ctx).Info("Token renewal failed, retrying next period", "cluster", fc.Name, "err", err)
		}
	}
}

// renewToken renews fc's token when it is due: it asks the member's
// TokenRequest API, with the current token, for a new token for the same
// ServiceAccount and lifetime, and stores it in the credentials
// FederatedSecret; the member client cache then reconnects with it.
func (c *Controller) renewToken(ctx context.Context, fc *v1alpha1.FederatedCluster) error {
	creds, err := c.fsLister.FederatedSecrets(v1alpha1.SystemNamespace).Get(fc.Spec.SecretRef.Name)
	if apierrors.IsNotFound(err) {
		return nil // the probe reports ConfigMalformed
	}
	if err != nil {
		return err
	}
	expiryText := creds.Annotations[TokenExpiryAnnotation]
	if expiryText == "" {
		return nil // not a bounded token: nothing to renew
	}
	expiry, err := time.Parse(time.RFC3339, expiryText)
	if err != nil {
		return fmt.Errorf("annotation %s is not an RFC 3339 time", TokenExpiryAnnotation)
	}
	token := string(creds.Spec.Template.Data[v1alpha1.CredentialsTokenKey])
	issued, ok := issuedAt(token)
	if !ok {
		// Not a JWT we can read: the best guess at when it was issued.
		issued = creds.CreationTimestamp.Time
	}
	lifetime := expiry.Sub(issued)
	if lifetime <= 0 {
		return fmt.Errorf("token lifetime cannot be determined")
	}
	now := c.now()
	renewAt := issued.Add(time.Duration(c.cfg.TokenRenewFraction * float64(lifetime)))
	if now.Before(renewAt) {
		return nil
	}

	ns, name := v1alpha1.SystemNamespace, "secretfed-"+fc.Name
	if sa := creds.Annotations[ServiceAccountAnnotation]; sa != "" {
		parts := strings.SplitN(sa, "/", 2)
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return fmt.Errorf("annotation %s is not namespace/name", ServiceAccountAnnotation)
		}
		ns, name = parts[0], parts[1]
	}
	m, err := c.cfg.Members.Get(fc)
	if err != nil {
		return err
	}
	seconds := int64(lifetime.Round(time.Second) / time.Second)
	if seconds < minTokenSeconds {
		seconds = minTokenSeconds
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	tr, err := m.Client.CoreV1().ServiceAccounts(ns).CreateToken(rctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		msg := fmt.Sprintf("cannot renew the member token (expires %s): %v", expiry.UTC().Format(time.RFC3339), err)
		if now.After(expiry) {
			msg = fmt.Sprintf("the member token expired at %s; run kubectl secretfed join again: %v", expiry.UTC().Format(time.RFC3339), err)
		}
		c.cfg.Recorder.Event(fc, corev1.EventTypeWarning, "TokenRenewalFailed", msg)
		return fmt.Errorf("TokenRequest for %s/%s: %w", ns, name, err)
	}
	if tr.Status.Token == "" {
		return fmt.Errorf("TokenRequest for %s/%s returned no token", ns, name)
	}

	updated := creds.DeepCopy()
	if updated.Spec.Template.Data == nil {
		updated.Spec.Template.Data = map[string][]byte{}
	}
	updated.Spec.Template.Data[v1alpha1.CredentialsTokenKey] = []byte(tr.Status.Token)
	updated.Annotations[TokenExpiryAnnotation] = tr.Status.ExpirationTimestamp.UTC().Format(time.RFC3339)
	if _, err := c.cfg.Client.SecretfedV1alpha1().FederatedSecrets(v1alpha1.SystemNamespace).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("storing the renewed token: %w", err)
	}
	klog.FromContext(ctx).Info("Renewed member token", "cluster", fc.Name, "serviceAccount", ns+"/"+name,
		"expires", tr.Status.ExpirationTimestamp.UTC().Format(time.RFC3339))
	c.cfg.Recorder.Eventf(fc, corev1.EventTypeNormal, "TokenRenewed", "renewed the member token; it expires at %s",
		tr.Status.ExpirationTimestamp.UTC().Format(time.RFC3339))
	return nil
}

// issuedAt reads the iat (or nbf) claim of a JWT without verifying it; the
// member verifies tokens, we only need to know their age.
func issuedAt(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		IssuedAt  *int64 `json:"iat"`
		NotBefore *int64 `json:"nbf"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}, false
	}
	switch {
	case claims.IssuedAt != nil:
		return time.Unix(*claims.IssuedAt, 0), true
	case claims.NotBefore != nil:
		return time.Unix(*claims.NotBefore, 0), true
	}
	return time.Time{}, false
}
