package main

// Talking to the API server we started: readiness, RBAC for the restricted identity, kubeconfigs.

import (
	"context"
	"fmt"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// readyPoll is how often /readyz is asked during start-up (start-up takes seconds).
const readyPoll = 200 * time.Millisecond

func adminConfig(url string, c *credentials) *rest.Config {
	return &rest.Config{
		Host:            url,
		BearerToken:     c.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAFile: c.caFile},
		Timeout:         10 * time.Second,
	}
}

func waitReady(ctx context.Context, url string, c *credentials, done <-chan error) error {
	client, err := kubernetes.NewForConfig(adminConfig(url, c))
	if err != nil {
		return err
	}
	var last error
	for {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && string(body) == "ok" {
			return nil
		}
		last = err
		select {
		case err := <-done:
			return fmt.Errorf("kube-apiserver exited during start-up: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready: %v (last: %v)", ctx.Err(), last)
		case <-time.After(readyPoll):
		}
	}
}

// bootstrapRBAC gives the istiod-like identity read access to every resource, nothing more.
func bootstrapRBAC(ctx context.Context, url string, c *credentials) error {
	client, err := kubernetes.NewForConfig(adminConfig(url, c))
	if err != nil {
		return err
	}
	const name = "discofilter-testcluster-istiod-reader"
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"},
		}},
	}
	if _, err := client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: istiodUser}},
	}
	if _, err := client.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func writeKubeconfig(path, url, caFile, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testcluster"] = &clientcmdapi.Cluster{Server: url, CertificateAuthority: caFile}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["testcluster"] = &clientcmdapi.Context{Cluster: "testcluster", AuthInfo: user}
	cfg.CurrentContext = "testcluster"
	return clientcmd.WriteToFile(*cfg, path)
}
