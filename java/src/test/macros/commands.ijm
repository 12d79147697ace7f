// Every infocus menu command from a macro, as java/test.sh runs it in
// batch mode (@T@: its temporary folder). Results go to @T@/ij/ and are
// compared there with the CLI's.
T = "@T@";
setBatchMode(true);

function save(title, name) {
    selectImage(title);
    saveAs("Tiff", T + "/ij/" + name);
    close();
}

// Inputs: a calibrated 16-bit stack (saved, so that the CLI reads the same
// file), an 8-bit and a 32-bit stack.
open(T + "/s16.tif");
setVoxelSize(0.5, 0.5, 2, "um");  // ImageJ and the CLI both store "µm"
saveAs("Tiff", T + "/in16.tif");
open(T + "/in8.tif");
open(T + "/in32.tif");

selectImage("in16.tif");
run("Focus Map...", "preset=paper measure=brenner window=32 strides=8,12");
save("in16-focus-map", "fm_paper16.tif");

selectImage("in8.tif");
run("Focus Map...", "preset=default");
save("in8-focus-map", "fm_default8.tif");

selectImage("in16.tif");
run("Segment...", "preset=default focus_map in_focus depth_map all_in_focus");
selectImage("in16-mask");
getVoxelSize(pw, ph, pd, unit);
print("calibration in16-mask: " + pw + " " + unit);
save("in16-focus-map", "map16.tif");
save("in16-in-focus", "if16.tif");
save("in16-depth", "depth16.tif");
save("in16-all-in-focus", "aif16.tif");
selectImage("in16-mask");
saveAs("Tiff", T + "/ij/mask16.tif");  // stays open: the masks of Fine-tune

selectImage("in32.tif");
run("Segment...", "preset=paper measure=variance window=16 strides=8 threshold=otsu-slice");
save("in32-mask", "mask32.tif");

selectImage("in8.tif");
run("Depth Map / All-in-Focus...", "preset=default dof=2");
save("in8-depth", "depth8.tif");
save("in8-all-in-focus", "aif8.tif");

selectImage("in16.tif");
run("Train U-Net...", "output=" + T + "/ij/model.safetensors labels=default config=default depth=2 base_channels=4 z_context=1 epochs=2 batch=2 patch=32 patience=0 validation=0.2 seed=5 threads=1");

selectImage("in16.tif");
run("Train U-Net...", "output=" + T + "/ij/model_off.safetensors labels=default config=default depth=2 base_channels=4 z_context=1 focus_profile=off epochs=2 batch=2 patch=32 patience=0 validation=0.2 seed=5 threads=1");

selectImage("in16.tif");
run("Train U-Net...", "output=" + T + "/ij/model_noguide.safetensors labels=default config=default depth=2 base_channels=4 z_context=1 preset_guide=off epochs=2 batch=2 patch=32 patience=0 validation=0.2 seed=5 threads=1");

selectImage("in16.tif");
run("Fine-tune U-Net...", "model=" + T + "/ij/model.safetensors masks=mask16.tif output=" + T + "/ij/ft.safetensors epochs=2 batch=2 patch=32 patience=0 seed=5 threads=1");

selectImage("in16.tif");
run("Predict U-Net...", "model=" + T + "/ij/ft.safetensors threshold=0.5 tile=64 overlap=16 threads=1 probabilities");
save("in16-unet-mask", "pred16.tif");
save("in16-unet-prob", "prob16.tif");

selectImage("in16.tif");
run("Predict U-Net...", "model=" + T + "/ij/ft.safetensors threshold=0.5 tile=64 overlap=16 no_flips threads=1 probabilities");
save("in16-unet-mask", "pred16_noflips.tif");
save("in16-unet-prob", "prob16_noflips.tif");

// Bad inputs: each gives an error line and no image; the macro goes on.
n0 = nImages;
newImage("rgb", "RGB random", 32, 32, 3);
run("Segment...", "preset=default");
newImage("flat", "16-bit random", 32, 32, 1);
run("Focus Map...", "preset=paper");
File.saveString("not a model", T + "/bad.safetensors");
selectImage("in16.tif");
run("Predict U-Net...", "model=" + T + "/bad.safetensors");
selectImage("in16.tif");
run("Focus Map...", "preset=paper strides=8,x");
print("images after errors: " + (nImages - n0 - 2) + " new");
print("INFOCUS_FIJI_MACRO_DONE");
