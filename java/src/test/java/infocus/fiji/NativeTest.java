package infocus.fiji;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import ij.ImagePlus;
import ij.ImageStack;
import ij.Macro;
import ij.measure.Calibration;
import ij.process.ColorProcessor;
import ij.process.ShortProcessor;
import java.io.File;
import java.nio.file.Files;
import java.util.Random;
import org.junit.After;
import org.junit.Test;

/**
 * The JNI door and the plugin classes without ImageJ's GUI (run with
 * -Djava.awt.headless=true and -Dinfocus.library=PATH): arguments, errors,
 * cancel, headless macro options.
 */
public class NativeTest {
    /** A 4 x 48 x 40 16-bit stack of random texture whose sharpness changes with the slice. */
    static ImagePlus stack16() {
        ImageStack s = new ImageStack(40, 48);
        Random r = new Random(7);
        for (int k = 0; k < 4; k++) {
            short[] p = new short[40 * 48];
            for (int i = 0; i < p.length; i++) p[i] = (short) (1000 + r.nextInt(100 + 400 * k));
            s.addSlice("" + k, p);
        }
        ImagePlus imp = new ImagePlus("t16.tif", s);
        Calibration c = imp.getCalibration();
        c.pixelWidth = 0.5;
        c.pixelHeight = 0.5;
        c.pixelDepth = 2;
        c.setUnit("micron");
        return imp;
    }

    static final Native.Progress QUIET = new Native.Progress() {
        public boolean report(long done, long total) { return true; }
        public void epoch(int e, int n, double l, double v) {}
    };

    /** ImageJ gives macro options only to threads named as its command threads are. */
    private static void macroOptions(String options) {
        Thread.currentThread().setName("Run$_test");
        Macro.setOptions(options);
    }

    @After
    public void clearOptions() {
        Macro.setOptions(null);
    }

    @Test
    public void libraryVersionMatchesTheJar() {
        assertEquals(Native.jarVersion(), Native.libraryVersion());
        assertNotNull(Native.loadedFrom());
    }

    @Test
    public void focusMapKeepsSizeAndCalibration() {
        Input in = Input.of(stack16(), 2);
        Method m = new Method();
        m.preset = "paper";
        m.window = 16;
        m.strides = "4,8";
        ImagePlus map = FocusMap.execute(in, m, QUIET);
        assertEquals(32, map.getBitDepth());
        assertEquals(4, map.getStackSize());
        assertEquals(40, map.getWidth());
        assertEquals(0.5, map.getCalibration().pixelWidth, 0);
        assertEquals("micron", map.getCalibration().getUnit());
        assertEquals("t16-focus-map", map.getTitle());
    }

    @Test
    public void segmentGivesEveryProductAskedFor() {
        Input in = Input.of(stack16(), 2);
        Segment.Products p = new Segment.Products();
        p.map = p.inFocus = p.depth = p.allInFocus = true;
        ImagePlus[] r = Segment.execute(in, new Method(), p, QUIET);
        assertEquals(5, r.length);
        assertEquals(8, r[0].getBitDepth());
        assertEquals(16, r[2].getBitDepth());
        assertEquals(16, r[3].getBitDepth());
        assertEquals(1, r[3].getStackSize());
        assertEquals(1, r[4].getStackSize());
    }

    @Test
    public void aProgressThatSaysStopCancels() {
        Input in = Input.of(stack16(), 2);
        Native.Progress stop = new Native.Progress() {
            public boolean report(long done, long total) { return false; }
            public void epoch(int e, int n, double l, double v) {}
        };
        try {
            FocusMap.execute(in, new Method(), stop);
            fail("not cancelled");
        } catch (InfocusException e) {
            assertEquals("cancelled", e.kind());
            assertTrue(e.isCancel());
        }
    }

    @Test
    public void aThrowingProgressCancelsAndDoesNotCrash() {
        Input in = Input.of(stack16(), 2);
        Native.Progress bad = new Native.Progress() {
            public boolean report(long done, long total) { throw new IllegalStateException("boom"); }
            public void epoch(int e, int n, double l, double v) {}
        };
        try {
            FocusMap.execute(in, new Method(), bad);
            fail("not cancelled");
        } catch (InfocusException e) {
            assertEquals("cancelled", e.kind());
        }
    }

    private static void expectInvalid(Native.Call<?> c, String words) {
        try {
            Native.call(c);
            fail("accepted");
        } catch (InfocusException e) {
            assertEquals(e.getMessage(), "invalid", e.kind());
            assertTrue(e.getMessage(), e.getMessage().contains(words));
        }
    }

    @Test
    public void badArraysAreRefusedWithAMessage() {
        final Object[] floats = {new float[6], new float[6]};
        expectInvalid(new Native.Call<Object[]>() {
            public Object[] run() {
                return Native.focusMap(floats, 1, 3, 2, "paper", "std", 2, "1", 0, 2, 3, 6, null);
            }
        }, "short[]");
        final Object[] shortSlice = {new short[6], new short[5]};
        expectInvalid(new Native.Call<Object[]>() {
            public Object[] run() {
                return Native.focusMap(shortSlice, 1, 3, 2, "paper", "std", 2, "1", 0, 2, 3, 6, null);
            }
        }, "slice 1");
        final Object[] withNull = {new short[6], null};
        try {
            Native.call(new Native.Call<Object[]>() {
                public Object[] run() {
                    return Native.focusMap(withNull, 1, 3, 2, "paper", "std", 2, "1", 0, 2, 3, 6, null);
                }
            });
            fail("accepted");
        } catch (InfocusException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("NULL"));
        }
        final Object[] ok = {new short[6], new short[6]};
        expectInvalid(new Native.Call<Object[]>() {
            public Object[] run() {
                return Native.focusMap(ok, 7, 3, 2, "paper", "std", 2, "1", 0, 2, 3, 6, null);
            }
        }, "pixel type");
        expectInvalid(new Native.Call<Object[]>() {
            public Object[] run() {
                return Native.focusMap(ok, 1, 3, 2, "nonsense", "std", 2, "1", 0, 2, 3, 6, null);
            }
        }, "unknown preset");
        expectInvalid(new Native.Call<Object[]>() {
            public Object[] run() {
                return Native.focusMap(ok, 1, 3, 2, "paper", "std", 2, "1,x", 0, 2, 3, 6, null);
            }
        }, "strides");
        expectInvalid(new Native.Call<Object[]>() {
            public Object[] run() {
                return Native.focusMap(ok, 1, -3, 2, "paper", "std", 2, "1", 0, 2, 3, 6, null);
            }
        }, "width");
        expectInvalid(new Native.Call<Object[]>() {
            public Object[] run() {
                return Native.segment(ok, 1, 3, 2, "default", "std", 2, "1", Double.NaN, 2, 3, 6, "preset", 0,
                    false, false, false, false, null);
            }
        }, "invalid argument");
    }

    @Test
    public void rgbAndSingleImagesAreRefused() {
        try {
            Input.of(new ImagePlus("rgb", new ColorProcessor(8, 8)), 2);
            fail("RGB accepted");
        } catch (InfocusException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("RGB"));
        }
        try {
            Input.of(new ImagePlus("one", new ShortProcessor(8, 8)), 2);
            fail("2-D accepted");
        } catch (InfocusException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("single 2-D image"));
        }
    }

    @Test
    public void aHyperstackGivesItsCurrentChannelAndFrame() {
        ImageStack s = new ImageStack(4, 4);
        for (int i = 0; i < 2 * 3 * 2; i++) {
            short[] p = new short[16];
            p[0] = (short) i;
            s.addSlice("" + i, p);
        }
        ImagePlus imp = new ImagePlus("hyper", s);
        imp.setDimensions(2, 3, 2);
        imp.setOpenAsHyperStack(true);
        imp.setPosition(2, 1, 2);
        Input in = Input.of(imp, 2);
        assertEquals(3, in.slices.length);
        // index of (c=2, z=1, t=2) is (t-1)*C*Z + (z-1)*C + c = 6 + 0 + 2 = 8 (1-based): value 7
        assertEquals(7, ((short[]) in.slices[0])[0]);
        assertTrue(in.note.contains("channel 2"));
    }

    @Test
    public void headlessDialogsReadTheMacroOptions() {
        macroOptions("preset=paper measure=brenner window=16 strides=[4,8] threshold=fixed level=2.5");
        Form f = new Form("test");
        Method m = new Method();
        m.addTo(f, true);
        assertTrue(f.show(null));
        m.readFrom(f, true);
        assertEquals("paper", m.preset);
        assertEquals("brenner", m.measure);
        assertEquals(16, m.window);
        assertEquals("4,8", m.strides);
        assertEquals("fixed", m.threshold);
        assertEquals(2.5f, m.level, 0);
        assertEquals(Defaults.number("radius"), m.radius, 0);
    }

    @Test
    public void headlessCheckboxesAreOnWhenTheirKeyIsPresent() {
        macroOptions("model=/m focus_map depth_map");
        Form f = new Form("test");
        f.checkbox("Focus_map", false);
        f.checkbox("In_focus", true);
        f.checkbox("Depth_map", false);
        assertTrue(f.nextBoolean());
        assertTrue(!f.nextBoolean());
        assertTrue(f.nextBoolean());
    }

    @Test
    public void aMenuCommandRunsTrulyHeadlessFromMacroOptions() {
        boolean batch = ij.macro.Interpreter.batchMode;
        ij.macro.Interpreter.batchMode = true; // shown images go to the macro's list
        try {
            ImagePlus imp = stack16();
            ij.WindowManager.setTempCurrentImage(imp);
            macroOptions("preset=paper measure=brenner window=16 strides=4,8");
            new FocusMap().run("");
            ImagePlus out = ij.WindowManager.getCurrentImage();
            assertNotNull(out);
            assertEquals("t16-focus-map", out.getTitle());
            Input in = Input.of(stack16(), 2);
            Method m = new Method();
            m.preset = "paper";
            m.measure = "brenner";
            m.window = 16;
            m.strides = "4,8";
            ImagePlus direct = FocusMap.execute(in, m, QUIET);
            assertTrue(java.util.Arrays.equals((float[]) direct.getStack().getPixels(3),
                (float[]) out.getStack().getPixels(3)));
            // an error is logged, no exception escapes, no image is made
            ij.WindowManager.setTempCurrentImage(new ImagePlus("rgb", new ColorProcessor(8, 8)));
            macroOptions("preset=default");
            new Segment().run("");
        } finally {
            ij.macro.Interpreter.batchMode = batch;
        }
    }

    @Test
    public void theFocusProfileIsTheConfigsOnOrOff() {
        TrainUnet.Spec s = new TrainUnet.Spec();
        assertEquals("config", s.profile);
        s.profile = "maybe";
        checkConfigOnOff("unet_profile", s, "focus_profile", 2, -1, "focus profile");
    }

    @Test
    public void thePresetGuideIsTheConfigsOnOrOff() {
        TrainUnet.Spec s = new TrainUnet.Spec();
        assertEquals("config", s.guide);
        s.guide = "yes";
        checkConfigOnOff("unet_guide", s, "preset_guide", -1, 3, "preset guide");
    }

    /**
     * A config/on/off choice of Train U-Net: on in the default config, a
     * word other than config/on/off refused by the plugin (naming
     * {@code macroKey}), and the JNI door taking only -1 (the config's), 0
     * and 1 (here {@code profile} or {@code guide} is out of range; the
     * message names {@code doorWhat}).
     */
    private void checkConfigOnOff(String defaultsKey, TrainUnet.Spec bad, String macroKey, final int profile,
        final int guide, String doorWhat) {
        assertEquals("on", Defaults.get(defaultsKey));
        final Input in = Input.of(stack16(), 1);
        final Training t = new Training(false);
        try {
            TrainUnet.execute(in, bad, t, QUIET);
            fail(macroKey + " accepted a bad word");
        } catch (InfocusException e) {
            assertEquals(e.getMessage(), "invalid", e.kind());
            assertTrue(e.getMessage(), e.getMessage().contains(macroKey));
        }
        if (!Native.hasUnet()) return;
        final String out =
            new File(System.getProperty("java.io.tmpdir"), "infocus-never-" + macroKey + ".safetensors").getPath();
        try {
            Native.call(new Native.Call<String>() {
                public String run() {
                    return Native.trainUnet(in.slices, in.pixelType, in.width, in.height, "default", "default", 0, 0,
                        "config", -1, profile, guide, t.epochs, t.batch, t.patch, t.lr, t.patience, t.validation,
                        t.seed, t.augment, t.loss, t.device, t.threads, out, QUIET);
                }
            });
            fail(doorWhat + " " + profile + "/" + guide + " accepted");
        } catch (InfocusException e) {
            assertEquals(e.getMessage(), "invalid", e.kind());
            assertTrue(e.getMessage(), e.getMessage().contains(doorWhat));
        }
        assertTrue(!new File(out).exists());
    }

    @Test
    public void predictionAveragesTheFlipsUnlessNoFlips() throws Exception {
        assertTrue("flips on by default", new PredictUnet.Spec().flips);
        if (!Native.hasUnet()) return;
        File model = File.createTempFile("infocus-flips", ".safetensors");
        model.deleteOnExit();
        Input in = Input.of(stack16(), 1);
        TrainUnet.Spec ts = new TrainUnet.Spec();
        ts.output = model.getPath();
        ts.depth = 1;
        ts.baseChannels = 2;
        Training t = new Training(false);
        t.epochs = 1;
        t.batch = 2;
        t.patch = 16;
        t.patience = 0;
        t.device = "cpu";
        t.threads = 1;
        TrainUnet.execute(in, ts, t, QUIET);
        PredictUnet.Spec s = new PredictUnet.Spec();
        s.model = model.getPath();
        s.device = "cpu";
        s.threads = 1;
        s.probabilities = true;
        ImagePlus[] four = PredictUnet.execute(in, s, QUIET);
        s.flips = false;
        ImagePlus[] one = PredictUnet.execute(in, s, QUIET);
        assertEquals(2, one.length);
        boolean differ = false;
        for (int k = 1; k <= in.slices.length; k++) {
            differ |= !java.util.Arrays.equals((float[]) four[1].getStack().getPixels(k),
                (float[]) one[1].getStack().getPixels(k));
        }
        assertTrue("no_flips gave the default's probabilities", differ);
    }

    @Test
    public void aCorruptModelIsAnIoError() throws Exception {
        if (!Native.hasUnet()) return;
        File bad = File.createTempFile("infocus-bad", ".safetensors");
        bad.deleteOnExit();
        Files.write(bad.toPath(), "not a model at all".getBytes("UTF-8"));
        PredictUnet.Spec s = new PredictUnet.Spec();
        s.model = bad.getPath();
        try {
            PredictUnet.execute(Input.of(stack16(), 1), s, QUIET);
            fail("corrupt model accepted");
        } catch (InfocusException e) {
            assertEquals(e.getMessage(), "io", e.kind());
            assertTrue(e.getMessage(), e.getMessage().contains(bad.getName()));
        }
    }
}
