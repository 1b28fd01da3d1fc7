## en: keys of the energy module, prefixed "energy-"
