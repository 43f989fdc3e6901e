package unjoin

import (
	"context"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secretfed/secretfed/pkg/cli/clients"
	"github.com/secretfed/secretfed/pkg/cli/naming"
)

// getDeleter is what every typed client offers for one kind.
type getDeleter[T metav1.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// deleteOwned deletes the object if join created it for cluster (it carries
// join's labels); anything else with that name is left alone with a warning.
// A missing object is not an error: an earlier run may have deleted it.
func deleteOwned[T metav1.Object](ctx context.Context, c getDeleter[T], cluster string, t clients.Target, kind, namespace, name string, warn io.Writer) (bool, error) {
	key := name
	if namespace != "" {
		key = namespace + "/" + name
	}
	obj, err := c.Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, clients.Explain(err, t, fmt.Sprintf("get %s %s", kind, key))
	case !naming.OwnedBy(obj, cluster):
		fmt.Fprintf(warn, "Warning: %s %s in the %s was not created by join for %q (it lacks the labels %s); left in place\n",
			kind, key, t, cluster, naming.Selector(cluster))
		return false, nil
	}
	if err := c.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return false, clients.Explain(err, t, fmt.Sprintf("delete %s %s", kind, key))
	}
	return true, nil
}
