# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: venv demo test benchmark clean opencv-contrib tfds-ucf101-check

venv: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,beam]'
	$(MAKE) opencv-contrib
	touch $(STAMP)

# opencv-python-headless (from tf-models-official) and
# opencv-contrib-python-headless both install `cv2/`; the last one installed
# wins. Reinstalling contrib at exactly the headless version leaves a `cv2`
# with the contrib modules (TV-L1 flow) and the same version everywhere.
opencv-contrib:
	$(PY) -m pip install --quiet --no-deps --force-reinstall \
	  "opencv-contrib-python-headless==$$($(PY) -c 'from importlib import metadata; print(metadata.version("opencv-python-headless"))')"

demo: $(STAMP)
	$(PY) tools/demo.py --output_dir=demo_out

# Two workers, each taking whole files: most tests wait on single-threaded
# start-up (imports, tracing, subprocesses), so two overlap well on 2 cores.
# -rs prints why each skipped test was skipped.
test: $(STAMP)
	$(PY) -m pytest -q -rs -n 2 --dist loadfile tests

# TFDS's own ucf101 builder (`tfds build`, which encodes videos with the
# ffmpeg binary) on a small UCF-101 in the dataset's layout, then the trainer
# on what it built: docs/results/tfds_ucf101_build.md. Not part of `make
# test`: installing ffmpeg from Debian alone takes over a minute.
tfds-ucf101-check: $(STAMP)
	command -v ffmpeg >/dev/null || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ffmpeg)
	$(PY) -m benchmarks.tfds_ucf101_build --work_dir=/tmp/tfds_ucf101 \
	  --output_json=docs/results/tfds_ucf101_build.json

clean:
	rm -rf demo_out .pytest_cache
