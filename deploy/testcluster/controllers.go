package main

import (
	"context"

	kcmapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	kcmoptions "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"
	"k8s.io/kubernetes/cmd/kube-controller-manager/names"
)

// enabledControllers is what Flotilla's tests rely on: workloads roll out, owners
// garbage-collect their dependents, namespaces finish deleting, ServiceAccounts exist.
var enabledControllers = []string{
	names.DeploymentController,
	names.ReplicaSetController,
	names.GarbageCollectorController,
	names.NamespaceController,
	names.ServiceAccountController,
	names.ClusterRoleAggregationController,
	names.JobController,
	names.EndpointSliceController,
	names.RootCACertificatePublisherController,
}

// runControllerManager builds the kube-controller-manager options struct directly.
// Its pflag set cannot be used in this process: it re-registers the feature gates
// the apiserver already registered and panics.
func runControllerManager(ctx context.Context, kubeconfigPath string) error {
	s, err := kcmoptions.NewKubeControllerManagerOptions()
	if err != nil {
		return err
	}
	s.Generic.ClientConnection.Kubeconfig = kubeconfigPath
	s.Generic.ClientConnection.QPS = 200
	s.Generic.ClientConnection.Burst = 400
	s.Generic.LeaderElection.LeaderElect = false
	s.Generic.Controllers = enabledControllers
	// No HTTP endpoint: nothing scrapes it, and port 0 here means "do not serve".
	s.SecureServing.BindPort = 0
	// Roll out fast: tests wait on these.
	s.GarbageCollectorController.ConcurrentGCSyncs = 5

	c, err := s.Config(ctx, kcmapp.KnownControllers(), kcmapp.ControllersDisabledByDefault(), kcmapp.ControllerAliases())
	if err != nil {
		return err
	}
	return kcmapp.Run(ctx, c.Complete())
}
