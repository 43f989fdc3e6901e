// Package kmsplugin is a KMS v2 plugin for tests and benchmarks: it wraps
// data encryption keys with a local AES-GCM key instead of a real key
// management service. Never use it to protect real data.
package kmsplugin

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"k8s.io/kms/pkg/service"
)

// Plugin implements service.Service with one local key.
type Plugin struct {
	aead  cipher.AEAD
	keyID string
}

// New returns a plugin using key (16, 24 or 32 bytes).
func New(key []byte) (*Plugin, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(key)
	return &Plugin{aead: aead, keyID: "test-" + hex.EncodeToString(sum[:4])}, nil
}

// Encrypt seals data with a random nonce prepended.
func (p *Plugin) Encrypt(_ context.Context, _ string, data []byte) (*service.EncryptResponse, error) {
	nonce := make([]byte, p.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return &service.EncryptResponse{Ciphertext: p.aead.Seal(nonce, nonce, data, nil), KeyID: p.keyID}, nil
}

// Decrypt opens what Encrypt sealed.
func (p *Plugin) Decrypt(_ context.Context, _ string, req *service.DecryptRequest) ([]byte, error) {
	if req.KeyID != p.keyID {
		return nil, fmt.Errorf("unknown key id %q", req.KeyID)
	}
	n := p.aead.NonceSize()
	if len(req.Ciphertext) < n {
		return nil, errors.New("ciphertext too short")
	}
	return p.aead.Open(nil, req.Ciphertext[:n], req.Ciphertext[n:], nil)
}

// Status reports a healthy v2 plugin.
func (p *Plugin) Status(context.Context) (*service.StatusResponse, error) {
	return &service.StatusResponse{Version: "v2", Healthz: "ok", KeyID: p.keyID}, nil
}

// Serve runs the plugin's gRPC service on a unix socket until ctx is done.
func Serve(ctx context.Context, socketPath string, key []byte) error {
	p, err := New(key)
	if err != nil {
		return err
	}
	s := service.NewGRPCService(socketPath, 10*time.Second, p)
	errc := make(chan error, 1)
	go func() { errc <- s.ListenAndServe() }()
	select {
	case <-ctx.Done():
		s.Close()
		return nil
	case err := <-errc:
		return err
	}
}
