## de: keys of the lighting module, prefixed "lighting-"
