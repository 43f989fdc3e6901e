package clients

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const kubeconfig = `apiVersion: v1
kind: Config
current-context: host
clusters:
- name: host
  cluster:
    server: https://host.example:6443
    certificate-authority-data: %s
- name: member
  cluster:
    server: https://member.example:6443
    certificate-authority: ca.crt
    proxy-url: socks5://proxy.example:1080
- name: insecure
  cluster:
    server: https://insecure.example:6443
    insecure-skip-tls-verify: true
contexts:
- name: host
  context: {cluster: host, user: u}
- name: member
  context: {cluster: member, user: u}
- name: insecure
  context: {cluster: insecure, user: u}
users:
- name: u
  user: {token: not-a-real-token}
`

func writeKubeconfig(t *testing.T) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	ca := []byte("-----BEGIN CERTIFICATE-----\nMIIfake\n-----END CERTIFICATE-----\n")
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config")
	// certificate-authority-data is base64 of the same PEM
	content := fmt.Sprintf(kubeconfig, "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSWZha2UKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, ca
}

func TestContexts(t *testing.T) {
	path, ca := writeKubeconfig(t)
	flags := NewFlags()
	*flags.ConfigFlags.KubeConfig = path

	host, err := flags.Host()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Cluster{Server: "https://host.example:6443", CAData: ca}, host.Cluster); diff != "" {
		t.Errorf("host cluster (-want +got):\n%s", diff)
	}
	if host.Name != "host" || host.Config.Timeout != HostTimeout {
		t.Errorf("host context %q timeout %s, want the current context and %s", host.Name, host.Config.Timeout, HostTimeout)
	}

	member, err := flags.Member("member")
	if err != nil {
		t.Fatal(err)
	}
	want := Cluster{Server: "https://member.example:6443", CAData: ca, ProxyURL: "socks5://proxy.example:1080"}
	if diff := cmp.Diff(want, member.Cluster); diff != "" {
		t.Errorf("member cluster, CA read from a file relative to the kubeconfig (-want +got):\n%s", diff)
	}
	if member.Config.Timeout != MemberTimeout || MemberTimeout > 10*time.Second {
		t.Errorf("member timeout %s, want %s (at most 10s: an unreachable member must fail fast)", member.Config.Timeout, MemberTimeout)
	}

	insecure, err := flags.Member("insecure")
	if err != nil {
		t.Fatal(err)
	}
	if !insecure.Cluster.Insecure || len(insecure.Cluster.CAData) != 0 {
		t.Errorf("insecure cluster = %+v", insecure.Cluster)
	}

	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"missing member context", func() error { _, err := flags.Member("nope"); return err },
			`member context "nope" not found in kubeconfig ` + path + " (known contexts: host, insecure, member)"},
		{"no member context", func() error { _, err := flags.Member(""); return err }, "--cluster-context is required"},
		{"missing host context", func() error {
			f := *flags
			f.HostContext = "gone"
			_, err := f.Host()
			return err
		}, `host context "gone" not found in kubeconfig ` + path},
		{"missing kubeconfig file", func() error {
			f := NewFlags()
			*f.ConfigFlags.KubeConfig = filepath.Join(t.TempDir(), "absent")
			_, err := f.Host()
			return err
		}, "absent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	target := Target{Role: "member", Context: "m", Server: "https://m.example:6443"}
	refused := &url.Error{Op: "Get", URL: "https://m.example:6443/api", Err: syscall.ECONNREFUSED}
	gr := schema.GroupResource{Resource: "secrets"}
	for _, tc := range []struct {
		name        string
		err         error
		want        string
		unreachable bool
		forbidden   bool
	}{
		{"refused", refused, `cannot reach member cluster https://m.example:6443 (context "m") to list secrets: Get "https://m.example:6443/api": connection refused`, true, false},
		{"timeout", fmt.Errorf("wrapped: %w", context.DeadlineExceeded), "cannot reach member cluster", true, false},
		{"forbidden", apierrors.NewForbidden(gr, "", errors.New("nope")), `member cluster https://m.example:6443 (context "m"): not allowed to list secrets`, false, true},
		{"unauthorized", apierrors.NewUnauthorized("who?"), `rejected the credentials of context "m" (401 Unauthorized)`, false, false},
		{"other", apierrors.NewInternalError(errors.New("boom")), "cannot list secrets: Internal error occurred: boom", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Explain(tc.err, target, "list secrets")
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Explain = %q\nwant it to contain %q", err, tc.want)
			}
			if got := IsUnreachable(err); got != tc.unreachable {
				t.Errorf("IsUnreachable = %v, want %v", got, tc.unreachable)
			}
			if got := apierrors.IsForbidden(err); got != tc.forbidden {
				t.Errorf("IsForbidden = %v, want %v", got, tc.forbidden)
			}
		})
	}
}
