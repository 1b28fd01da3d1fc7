## de: keys of the services module, prefixed "services-"
